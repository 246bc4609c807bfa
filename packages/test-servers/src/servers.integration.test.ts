import { connect } from 'node:net';
import { ManagedProcess } from '@flotilla/devhosts';
import { afterAll, describe, expect, it } from 'vitest';
import { startEtcd, startRedis } from './servers.js';

afterAll(() => ManagedProcess.stopAll());

function ask(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(request));
    let reply = '';
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}

describe('real servers for tests', () => {
  it('starts etcd on a free loopback port, restarts it with its data, and removes it', async () => {
    const etcd = await startEtcd();
    const health = async () => (await fetch(`${etcd.url}/health`)).json() as Promise<{ health: string }>;
    expect((await health()).health).toBe('true');
    const put = await fetch(`${etcd.url}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: btoa('k'), value: btoa('v') }),
    });
    expect(put.ok).toBe(true);
    await etcd.restart();
    const got = (await (
      await fetch(`${etcd.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: btoa('k') }) })
    ).json()) as {
      kvs?: { value: string }[];
    };
    expect(atob(got.kvs?.[0]?.value ?? '')).toBe('v');
    const pid = etcd.process.pid;
    await etcd.destroy();
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('starts Redis with a password on a free loopback port', async () => {
    const redis = await startRedis({ password: 's3cret' });
    expect(redis.url).toBe(`redis://:s3cret@127.0.0.1:${redis.port}`);
    expect(await ask(redis.port, 'PING\r\n')).toContain('NOAUTH');
    expect(await ask(redis.port, 'AUTH s3cret\r\n')).toBe('+OK\r\n');
    await redis.destroy();
  });
});
