import { FlotillaError } from '@flotilla/api';
import { freePort, ManagedProcess, makeTestPki, type TestPki, tempDir } from '@flotilla/test-servers';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from './connection.js';
import { EventLog } from './event-log.js';
import { EventReader } from './event-reader.js';

const REDIS = process.env.FLOTILLA_REDIS_BIN ?? '/usr/bin/redis-server';
const dir = tempDir('redis-tls');
const otherDir = tempDir('redis-tls-other');
const clients: Redis[] = [];
let server: ManagedProcess | undefined;
let port = 0;
let pki: TestPki;
let otherPki: TestPki;

beforeAll(async () => {
  // Two unrelated CAs: the server's, and one a client may wrongly trust.
  pki = makeTestPki(dir.path);
  otherPki = makeTestPki(otherDir.path);
  port = await freePort();
  server = await ManagedProcess.start({
    name: 'redis-server (tls)',
    command: REDIS,
    args: [
      '--bind',
      '127.0.0.1',
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      pki.serverCertFile,
      '--tls-key-file',
      pki.serverKeyFile,
      '--tls-ca-cert-file',
      pki.caFile,
      '--tls-auth-clients',
      'no',
      '--requirepass',
      'tls-secret',
      '--dir',
      dir.path,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    readyPort: port,
    readyTimeoutMs: 30_000,
  });
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
  await ManagedProcess.stopAll();
  dir.remove();
  otherDir.remove();
});

function connect(caFile: string): Redis {
  const client = connectRedis({ url: `rediss://:tls-secret@127.0.0.1:${port}`, tls: { caFile } });
  clients.push(client);
  return client;
}

describe('Redis over TLS', () => {
  it('writes and reads events through rediss:// with a CA file', async () => {
    const ca = pki.caFile;
    const log = new EventLog(connect(ca), { key: 'tls:events' });
    log.emit({ type: 'node.up', nodeId: 'n1', hostname: 'h1', address: '198.18.0.2' });
    const stats = await log.close({ timeoutMs: 10_000 });
    expect(stats).toMatchObject({ written: 1, dropped: 0 });
    const events = [];
    for await (const e of new EventReader(connect(ca), { key: 'tls:events' }).replay()) events.push(e.event);
    expect(events).toMatchObject([{ type: 'node.up', nodeId: 'n1' }]);
  });

  it('fails as tls, not as a hang, when the server does not verify against the CA', async () => {
    const reader = new EventReader(connect(otherPki.caFile), { readyTimeoutMs: 1_000 });
    const err = await reader.lastId().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('tls');
    await reader.close();
  });
});
