import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { LogDriver, Task } from '@flotilla/api';
import { connectRedis, logKey } from '@flotilla/events';
import { ManagedProcess, runPrefix, startRedis, type TestServer } from '@flotilla/test-servers';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskLogs } from './task-logs.js';

let redis: TestServer;
let client: Redis;
let tasks = 0;
const NODE = 'node1';

beforeAll(async () => {
  redis = await startRedis();
  client = connectRedis({ url: redis.url });
});

afterAll(async () => {
  client?.disconnect();
  await redis?.destroy();
  await ManagedProcess.stopAll();
});

function task(name: string, options: Record<string, string> = {}): Task {
  return Task.fromPartial({
    id: `${runPrefix()}t${++tasks}`,
    serviceName: 'st_web',
    slot: 2n,
    spec: { image: 'nginx:1.27' },
    logDriver: LogDriver.fromPartial({ name, options }),
  });
}

function logs(): TaskLogs {
  const l = new TaskLogs({ nodeId: NODE });
  const { hostname, port } = new URL(redis.url);
  l.configure({
    redisAddress: `${hostname}:${port}`,
    redisPassword: '',
    redisUser: '',
    redisTls: false,
    redisServerName: '',
  });
  return l;
}

async function kept(taskId: string): Promise<string[]> {
  const entries = await client.xrange(logKey(taskId, undefined, NODE), '-', '+');
  return entries.map(([, fields]) => fields[fields.indexOf('line') + 1] as string);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('task logs by logging driver (real Redis)', () => {
  it('json-file max-size × max-file caps the bytes a task keeps, newest lines last', async () => {
    const l = logs();
    const capped = task('json-file', { 'max-size': '1k', 'max-file': '2' });
    const open = task('json-file');
    l.bind(capped);
    l.bind(open);
    // 100-byte lines (99 characters and a newline): 2 KiB holds the newest 20.
    const lines = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(3, '0')}${'x'.repeat(96)}`);
    for (let i = 0; i < lines.length; i += 7) {
      l.output(capped.id, 'stdout', lines.slice(i, i + 7));
      l.output(open.id, 'stdout', lines.slice(i, i + 7));
    }
    await l.close();
    const cappedLines = await kept(capped.id);
    expect(cappedLines).toEqual(lines.slice(-20));
    expect(cappedLines.reduce((n, line) => n + line.length + 1, 0)).toBeLessThanOrEqual(2048);
    // Without max-size the node's own cap applies: all 60 are kept.
    expect(await kept(open.id)).toEqual(lines);
  });

  it('below the cap nothing is trimmed (lines kept before an agent restart stay)', async () => {
    const l = logs();
    const t = task('local', { 'max-size': '10k' });
    l.bind(t);
    l.output(t.id, 'stdout', ['one', 'two']);
    await l.close();
    expect(await kept(t.id)).toEqual(['one', 'two']);
  });

  it('none keeps nothing, and counts it as discarded, not lost', async () => {
    const l = logs();
    const t = task('none');
    l.bind(t);
    l.output(t.id, 'stdout', ['secret-ish line']);
    const stats = l.stats();
    await l.close();
    expect(await kept(t.id)).toEqual([]);
    expect(stats.discarded).toBe(1);
    expect(stats.dropped).toBe(0);
  });

  it('after unbind, a task ID is back to the node default', async () => {
    const l = logs();
    const t = task('none');
    l.bind(t);
    l.unbind(t.id);
    l.output(t.id, 'stdout', ['kept']);
    await l.close();
    expect(await kept(t.id)).toEqual(['kept']);
  });
});

describe('syslog shipping (real listeners on 127.0.0.1)', () => {
  it('UDP: one RFC 5424 datagram per line, severity by stream, and the lines are kept too', async () => {
    const server = createSocket('udp4');
    const got: string[] = [];
    server.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    const { port } = server.address();
    try {
      const l = logs();
      const t = task('syslog', {
        'syslog-address': `udp://127.0.0.1:${port}`,
        'syslog-facility': 'local0',
        tag: '{{.Name}}',
      });
      l.bind(t);
      l.output(t.id, 'stdout', ['hello out']);
      l.output(t.id, 'stderr', ['hello err']);
      await until('both datagrams arrive', () => got.length === 2);
      const stats = l.stats();
      await l.close();
      // local0 is facility 16: <16*8+6> for stdout (info), <16*8+3> for stderr (err).
      const name = `st_web.2.${t.id}`;
      expect(got[0]).toMatch(
        new RegExp(`^<134>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\S+ ${name.slice(0, 48)} - - - hello out\\n$`),
      );
      expect(got[1]).toMatch(/^<131>1 .* - - - hello err\n$/);
      expect(stats.syslogSent).toBe(2);
      expect(await kept(t.id)).toEqual(['hello out', 'hello err']);
    } finally {
      server.close();
    }
  });

  it('TCP: RFC 3164, newline-framed, sent once the server is reached', async () => {
    const received: string[] = [];
    const server: Server = createServer((socket) => socket.on('data', (d) => received.push(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const l = logs();
      const t = task('syslog', { 'syslog-address': `tcp://127.0.0.1:${port}`, 'syslog-format': 'rfc3164', tag: 'web' });
      l.bind(t);
      l.output(t.id, 'stdout', ['first', 'second']);
      await until('both lines arrive', () => received.join('').split('\n').length === 3);
      await l.close();
      const [first, second] = received.join('').split('\n');
      // <1*8+6>: facility user unless told.
      expect(first).toMatch(/^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ web: first$/);
      expect(second).toMatch(/ web: second$/);
    } finally {
      server.close();
    }
  });

  it('a server out of reach costs lines, counted, never an exception or a stalled output', async () => {
    const l = logs();
    // A port nothing listens on: the connection is refused, and retried in the background.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const address = probe.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise<void>((r) => probe.close(() => r()));
    const t = task('syslog', { 'syslog-address': `tcp://127.0.0.1:${port}` });
    l.bind(t);
    expect(() => l.output(t.id, 'stdout', ['lost'])).not.toThrow();
    await l.close();
    expect(l.stats().syslogDropped).toBe(1);
    expect(l.stats().syslogSent).toBe(0);
    expect(await kept(t.id)).toEqual(['lost']);
  });
});
