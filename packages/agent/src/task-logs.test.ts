import { Writable } from 'node:stream';
import type { LogsConfig } from '@flotilla/api';
import type { LogShipperOptions } from '@flotilla/events';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { type LogShipper, parseRedisAddress, redisUrl, type ShipperStats, TaskLogs } from './task-logs.js';

/** Records what it is given: the boundary the agent ships through, not a stand-in for Redis. */
class RecordingShipper implements LogShipper {
  readonly lines: string[] = [];
  closed = false;
  constructor(
    readonly url: string,
    readonly options: LogShipperOptions | undefined,
  ) {}
  append(taskId: string, stream: 'stdout' | 'stderr', lines: readonly string[]): void {
    for (const line of lines) this.lines.push(`${taskId}/${stream}/${line}`);
  }
  stats(): ShipperStats {
    return { written: this.lines.length, dropped: 0, rejected: 0, buffered: 0 };
  }
  async close(): Promise<ShipperStats> {
    this.closed = true;
    return this.stats();
  }
}

/** What managers without --redis-tls tell every node: the address and their own password. */
const plain = (redisAddress: string, redisPassword: string): LogsConfig => ({
  redisAddress,
  redisPassword,
  redisTls: false,
  redisUser: '',
  redisServerName: '',
});

const identity = () => ({ certPem: 'CERT', keyPem: 'KEY', caPem: 'CA' });

function setup(redisAddress?: string, options: { tls?: boolean } = {}) {
  const shippers: RecordingShipper[] = [];
  let logged = '';
  const logger = createLogger('test', {
    destination: new Writable({
      write(chunk, _enc, done) {
        logged += chunk.toString();
        done();
      },
    }),
  });
  const logs = new TaskLogs({
    logger,
    ...(redisAddress ? { redisAddress } : {}),
    nodeId: 'node1',
    ...(options.tls ? { tlsIdentity: identity } : {}),
    connect: (url, _logger, shipperOptions) => {
      const s = new RecordingShipper(url, shipperOptions);
      shippers.push(s);
      return s;
    },
  });
  return { logs, shippers, logged: () => logged };
}

describe('TaskLogs', () => {
  it('drops and counts output until a session names a Redis, then ships it there', async () => {
    const { logs, shippers } = setup();
    logs.output('task1', 'stdout', ['early', 'lines']);
    expect(logs.stats()).toMatchObject({ shipped: 0, dropped: 2 });
    logs.configure(undefined);
    logs.output('task1', 'stdout', ['still no redis']);
    expect(logs.stats().dropped).toBe(3);
    logs.configure(plain('127.0.0.1:6390', ''));
    logs.output('task1', 'stderr', ['shipped']);
    expect(shippers.map((s) => s.url)).toEqual(['redis://127.0.0.1:6390']);
    expect(shippers[0]?.lines).toEqual(['task1/stderr/shipped']);
    // The same session info again (a new list of managers) keeps the same shipper.
    logs.configure(plain('127.0.0.1:6390', ''));
    expect(shippers).toHaveLength(1);
    await logs.close();
    expect(shippers[0]?.closed).toBe(true);
    expect(logs.stats()).toMatchObject({ shipped: 1, dropped: 3 });
  });

  it('uses its own address when given one, the password from the session, and never logs the password', async () => {
    const { logs, shippers, logged } = setup('redis.internal:7000');
    logs.configure(plain('10.0.0.1:6379', 'p@ss/word'));
    expect(shippers[0]?.url).toBe('redis://:p%40ss%2Fword@redis.internal:7000');
    // A new password (the managers were restarted with another) means a new connection.
    logs.configure(plain('10.0.0.1:6379', 'second-s3cret'));
    expect(shippers.map((s) => s.closed)).toEqual([true, false]);
    await logs.close();
    expect(logged()).toContain('shipping task output to Redis');
    expect(logged()).not.toContain('p@ss');
    expect(logged()).not.toContain('second-s3cret');
  });
});

describe('TaskLogs with a Redis user per node', () => {
  it("connects over TLS as the node's own user, to its own streams, with the node's certificate", async () => {
    const { logs, shippers, logged } = setup(undefined, { tls: true });
    logs.configure({
      redisAddress: '10.0.0.1:6379',
      redisPassword: 'node-s3cret',
      redisTls: true,
      redisUser: 'flotilla-node-node1',
      redisServerName: 'redis.flotilla.internal',
    });
    expect(shippers[0]?.url).toBe('rediss://flotilla-node-node1:node-s3cret@10.0.0.1:6379');
    expect(shippers[0]?.options).toMatchObject({ nodeId: 'node1', tls: { serverName: 'redis.flotilla.internal' } });
    expect(shippers[0]?.options?.tls?.identity?.()).toEqual(identity());
    await logs.close();
    expect(logged()).toContain('"user":"flotilla-node-node1"');
    expect(logged()).not.toContain('node-s3cret');
  });

  it('ships nothing over TLS without a certificate to present, and says why', async () => {
    const { logs, shippers, logged } = setup();
    logs.configure({ ...plain('10.0.0.1:6379', 'x'), redisTls: true, redisUser: 'u' });
    logs.output('task1', 'stdout', ['lost']);
    expect(shippers).toHaveLength(0);
    expect(logs.stats().dropped).toBe(1);
    expect(logged()).toContain('no certificate');
    await logs.close();
  });
});

describe('Redis addresses', () => {
  it('takes HOST:PORT, IPv6 in brackets, and refuses anything else with an example', () => {
    expect(parseRedisAddress('127.0.0.1:6379')).toBe('127.0.0.1:6379');
    expect(parseRedisAddress('[::1]:6379')).toBe('[::1]:6379');
    expect(redisUrl('redis:1', 'a b')).toBe('redis://:a%20b@redis:1');
    expect(redisUrl('redis:1', 'p', { user: 'u', tls: true })).toBe('rediss://u:p@redis:1');
    for (const bad of ['127.0.0.1', 'redis://127.0.0.1:6379', 'host:0', 'host:70000', ':6379', 'a b:1']) {
      expect(() => parseRedisAddress(bad)).toThrow(/give HOST:PORT, for example 127\.0\.0\.1:6379/);
    }
  });
});
