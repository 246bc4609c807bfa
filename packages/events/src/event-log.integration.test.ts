import { FlotillaError } from '@flotilla/api';
import { ManagedProcess, runPrefix, startRedis, type TestServer } from '@flotilla/test-servers';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisConnectionOptions, whenReady } from './connection.js';
import type { EventInput, FlotillaEvent } from './event.js';
import { EventLog } from './event-log.js';
import { EventReader, type StoredEvent } from './event-reader.js';

let redis: TestServer;
const servers: TestServer[] = [];
const clients: Redis[] = [];

// Short backoffs keep the outage tests quick; the defaults are for production.
const fast = { reconnectDelayMs: { first: 20, max: 200 }, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 };

function connect(url = redis.url, options: Partial<RedisConnectionOptions> = {}): Redis {
  const client = connectRedis({ url, ...fast, ...options });
  clients.push(client);
  return client;
}

let keys = 0;
/** A stream key of its own for each test, so tests cannot see each other's events. */
const freshKey = () => `${runPrefix()}:events:${++keys}`;

beforeAll(async () => {
  redis = await startRedis();
  servers.push(redis);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.allSettled(servers.map((s) => s.destroy()));
  await ManagedProcess.stopAll();
});

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** How many clients of this server are blocked in XREAD: when it goes up, a tail is really waiting. */
async function blockedReaders(admin: Redis): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((l) => /\bcmd=xread\b/.test(l) && /\bflags=\S*b/.test(l)).length;
}

const nodeDown = (i: number): EventInput => ({ type: 'node.down', nodeId: `n${i}`, hostname: 'h', reason: `#${i}` });
const reasons = (events: StoredEvent[]) =>
  events.map((e) => (e.event as Extract<FlotillaEvent, { type: 'node.down' }>).reason);

describe('event log on a real Redis', () => {
  it('a tail started before the emit receives it (XREAD BLOCK)', async () => {
    const key = freshKey();
    const log = new EventLog(connect(), { key });
    const reader = new EventReader(connect(), { key, blockMs: 500 });
    const admin = connect();
    await whenReady(admin, 5_000);
    const before = await blockedReaders(admin);
    const tail = reader.tail({ signal: AbortSignal.timeout(10_000) })[Symbol.asyncIterator]();
    const first = tail.next();
    await waitFor('the reader blocks in XREAD', async () => (await blockedReaders(admin)) > before);

    log.emit({
      type: 'task.state',
      taskId: 't1',
      serviceId: 's1',
      nodeId: 'n1',
      from: 'starting',
      to: 'running',
      message: 'started',
    });
    const got = await first;
    expect(got.done).toBe(false);
    expect(got.value?.event).toMatchObject({ type: 'task.state', taskId: 't1', to: 'running', message: 'started' });
    expect(got.value?.event.at).toBeGreaterThan(Date.now() - 60_000);

    log.emit({ type: 'leader.changed', leaderId: 'm2', previousId: 'm1' });
    expect((await tail.next()).value?.event).toMatchObject({ type: 'leader.changed', leaderId: 'm2' });
    await tail.return(undefined);
    await waitFor('the tail lets go of its connection', async () => (await blockedReaders(admin)) === before);
    expect(await log.close()).toMatchObject({ emitted: 2, written: 2, dropped: 0, buffered: 0 });
    await reader.close();
  });

  it('tails from an ID: first what came after it, then what comes next', async () => {
    const key = freshKey();
    const log = new EventLog(connect(), { key });
    for (let i = 0; i < 3; i++) log.emit(nodeDown(i));
    await waitFor('3 written', () => log.stats().written === 3);
    const reader = new EventReader(connect(), { key, blockMs: 200 });
    const [first] = await collect(reader.replay({ limit: 1 }));
    const controller = new AbortController();
    const seen: StoredEvent[] = [];
    const done = (async () => {
      for await (const e of reader.tail({ after: first?.id, signal: controller.signal })) {
        seen.push(e);
        if (seen.length === 2) log.emit(nodeDown(3));
        if (seen.length === 3) controller.abort();
      }
    })();
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('tail stalled')), 10_000))]);
    expect(reasons(seen)).toEqual(['#1', '#2', '#3']);
    await log.close();
    await reader.close();
  });

  it('replays history from an ID, up to an ID, and with a limit', async () => {
    const key = freshKey();
    const log = new EventLog(connect(), { key });
    for (let i = 0; i < 10; i++) log.emit(nodeDown(i));
    await waitFor('10 written', () => log.stats().written === 10);
    const reader = new EventReader(connect(), { key, pageSize: 3 });

    const all = await collect(reader.replay());
    expect(reasons(all)).toEqual(['#0', '#1', '#2', '#3', '#4', '#5', '#6', '#7', '#8', '#9']);
    expect(reasons(await collect(reader.replay({ after: all[4]?.id })))).toEqual(['#5', '#6', '#7', '#8', '#9']);
    expect(reasons(await collect(reader.replay({ after: all[4]?.id, to: all[7]?.id })))).toEqual(['#5', '#6', '#7']);
    expect(reasons(await collect(reader.replay({ limit: 4 })))).toEqual(['#0', '#1', '#2', '#3']);
    expect(await reader.lastId()).toBe(all[9]?.id);
    expect(await collect(new EventReader(connect(), { key: freshKey() }).replay())).toEqual([]);
    await expect(collect(reader.replay({ after: 'yesterday' }))).rejects.toMatchObject({ reason: 'invalid-argument' });
    await log.close();
    await reader.close();
  });

  it('skips and counts malformed entries without stopping the reader', async () => {
    const key = freshKey();
    const raw = connect();
    await whenReady(raw, 5_000);
    const log = new EventLog(connect(), { key });
    log.emit(nodeDown(0));
    await waitFor('written', () => log.stats().written === 1);
    await raw.xadd(key, '*', 'event', '{not json');
    await raw.xadd(key, '*', 'something', 'else');
    await raw.xadd(key, '*', 'event', JSON.stringify({ type: 'node.down', nodeId: 'n' }));
    log.emit(nodeDown(1));
    await waitFor('written', () => log.stats().written === 2);

    const reader = new EventReader(connect(), { key, blockMs: 200 });
    expect(reasons(await collect(reader.replay()))).toEqual(['#0', '#1']);
    expect(reader.malformed).toBe(3);

    const tailed: StoredEvent[] = [];
    for await (const e of reader.tail({ after: '0-0', signal: AbortSignal.timeout(10_000) })) {
      tailed.push(e);
      if (tailed.length === 2) break;
    }
    expect(reasons(tailed)).toEqual(['#0', '#1']);
    expect(reader.malformed).toBe(6);
    await log.close();
    await reader.close();
  });

  it('bounds the stream with MAXLEN ~', async () => {
    const key = freshKey();
    const log = new EventLog(connect(), { key, maxLen: 100, batchSize: 250 });
    for (let i = 0; i < 2_000; i++) log.emit(nodeDown(i));
    await waitFor('2000 written', () => log.stats().written === 2_000);
    const admin = connect();
    await whenReady(admin, 5_000);
    const length = await admin.xlen(key);
    // "~" trims whole radix-tree nodes (100 entries each by default), so the stream may hold up to one node more.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(200);
    const kept = reasons(await collect(new EventReader(connect(), { key }).replay()));
    expect(kept.at(-1)).toBe('#1999');
    expect(kept).toEqual(Array.from({ length }, (_, i) => `#${2_000 - length + i}`));
    await log.close();
  });

  it('counts an invalid event as rejected instead of throwing', async () => {
    const log = new EventLog(connect(), { key: freshKey() });
    expect(() => log.emit({ type: 'node.exploded' } as unknown as EventInput)).not.toThrow();
    expect(() => log.emit({ type: 'node.down', nodeId: '', hostname: 'h', reason: 'empty id' })).not.toThrow();
    expect(log.stats()).toMatchObject({ emitted: 2, rejected: 2, buffered: 0 });
    await log.close();
  });

  it('works with a password-protected Redis through the URL, and says when the password is wrong', async () => {
    const secured = await startRedis({ password: 's3cret/p@ss word' });
    servers.push(secured);
    const key = freshKey();
    const log = new EventLog(connect(secured.url), { key });
    log.emit(nodeDown(7));
    await waitFor('written', () => log.stats().written === 1);
    expect(reasons(await collect(new EventReader(connect(secured.url), { key }).replay()))).toEqual(['#7']);
    await log.close();

    const wrong = new EventReader(connect(secured.url.replace(/:[^:@/]*@/, ':wrong@')), { key, readyTimeoutMs: 1_000 });
    const err = await wrong.lastId().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('auth');
    await wrong.close();
  });

  it('close() writes what it can within the deadline, then disconnects', async () => {
    const key = freshKey();
    const client = connect();
    await whenReady(client, 5_000);
    const log = new EventLog(client, { key });
    for (let i = 0; i < 1_000; i++) log.emit(nodeDown(i));
    const stats = await log.close({ timeoutMs: 5_000 });
    expect(stats).toMatchObject({ emitted: 1_000, written: 1_000, dropped: 0, buffered: 0, connected: false });
    expect(client.status).toBe('end');
    log.emit(nodeDown(1_000));
    expect(log.stats()).toMatchObject({ emitted: 1_001, dropped: 1 });
    expect(await log.close()).toEqual(stats);
  });
});

describe('event log through a Redis outage', () => {
  let outage: TestServer;

  beforeAll(async () => {
    outage = await startRedis();
    servers.push(outage);
  });

  async function goDown(log: EventLog): Promise<void> {
    await outage.stop();
    await waitFor('the log sees Redis go', () => !log.stats().connected, 5_000);
  }

  function emitTimed(log: EventLog, from: number, to: number): number {
    let slowest = 0;
    for (let i = from; i < to; i++) {
      const start = performance.now();
      log.emit(nodeDown(i));
      slowest = Math.max(slowest, performance.now() - start);
    }
    return slowest;
  }

  it('buffers events while Redis is down and delivers them all, in order, when it is back', async () => {
    const key = freshKey();
    const log = new EventLog(connect(outage.url), { key, retryDelayMs: { first: 20, max: 200 } });
    log.emit(nodeDown(-1));
    await waitFor('the first event is written', () => log.stats().written === 1);

    await goDown(log);
    const slowest = emitTimed(log, 0, 300);
    expect(slowest).toBeLessThan(5);
    expect(log.stats()).toMatchObject({ emitted: 301, written: 1, buffered: 300, dropped: 0 });
    // Failed attempts in the meantime must not lose, repeat or reorder anything.
    await new Promise((r) => setTimeout(r, 500));
    expect(log.stats()).toMatchObject({ written: 1, buffered: 300, dropped: 0 });

    await outage.restart();
    await waitFor('all buffered events are written', () => log.stats().written === 301, 15_000);
    expect(log.stats()).toMatchObject({ emitted: 301, written: 301, buffered: 0, dropped: 0, connected: true });
    // The test Redis keeps no data across a restart, so the stream holds exactly what was buffered.
    const delivered = reasons(await collect(new EventReader(connect(outage.url), { key }).replay()));
    expect(delivered).toEqual(Array.from({ length: 300 }, (_, i) => `#${i}`));
    await log.close();
  });

  it('past the bound, drops the oldest and counts them exactly', async () => {
    const key = freshKey();
    const log = new EventLog(connect(outage.url), { key, maxBuffered: 50, retryDelayMs: { first: 20, max: 200 } });
    await waitFor('connected', () => log.stats().connected, 5_000);

    await goDown(log);
    expect(emitTimed(log, 0, 200)).toBeLessThan(5);
    expect(log.stats()).toMatchObject({ emitted: 200, written: 0, buffered: 50, dropped: 150 });

    await outage.restart();
    await waitFor('the kept events are written', () => log.stats().written === 50, 15_000);
    expect(log.stats()).toMatchObject({ emitted: 200, written: 50, buffered: 0, dropped: 150 });
    const delivered = reasons(await collect(new EventReader(connect(outage.url), { key }).replay()));
    expect(delivered).toEqual(Array.from({ length: 50 }, (_, i) => `#${150 + i}`));
    await log.close();
  });

  it('a slow Redis (writes paused) does not slow emit; the events follow once it answers', async () => {
    const key = freshKey();
    const log = new EventLog(connect(outage.url, { commandTimeoutMs: 3_000 }), { key });
    const admin = connect(outage.url);
    await waitFor('connected', () => log.stats().connected && admin.status === 'ready', 5_000);
    // CLIENT PAUSE WRITE holds every write for the given time: Redis is up, but each XADD waits.
    await admin.client('PAUSE', 600, 'WRITE');
    const paused = Date.now();
    expect(emitTimed(log, 0, 100)).toBeLessThan(5);
    await new Promise((r) => setTimeout(r, 100));
    expect(log.stats()).toMatchObject({ written: 0, buffered: 100, connected: true });
    expect(emitTimed(log, 100, 200)).toBeLessThan(5);
    await waitFor('all written', () => log.stats().written === 200, 10_000);
    expect(Date.now() - paused).toBeGreaterThanOrEqual(500);
    const delivered = reasons(await collect(new EventReader(connect(outage.url), { key }).replay()));
    expect(delivered).toEqual(Array.from({ length: 200 }, (_, i) => `#${i}`));
    await log.close();
  });

  it('a tail resumes after Redis comes back, from the last event it saw', async () => {
    const key = freshKey();
    const log = new EventLog(connect(outage.url), { key, retryDelayMs: { first: 20, max: 200 } });
    const reader = new EventReader(connect(outage.url), { key, blockMs: 200, readyTimeoutMs: 10_000 });
    log.emit(nodeDown(0));
    await waitFor('written', () => log.stats().written === 1);
    const seen: StoredEvent[] = [];
    const tailing = (async () => {
      for await (const e of reader.tail({ after: '0-0', signal: AbortSignal.timeout(15_000) })) {
        seen.push(e);
        if (seen.length === 2) return;
      }
    })();
    await waitFor('the tail saw the first event', () => seen.length === 1);
    await goDown(log);
    log.emit(nodeDown(1));
    await outage.restart();
    await tailing;
    expect(reasons(seen)).toEqual(['#0', '#1']);
    await log.close();
    await reader.close();
  });

  it('close() against a stalled Redis does not wait out the stall', async () => {
    const log = new EventLog(connect(outage.url, { commandTimeoutMs: 5_000 }), { key: freshKey() });
    const admin = connect(outage.url);
    await waitFor('connected', () => log.stats().connected && admin.status === 'ready', 5_000);
    await admin.client('PAUSE', 10_000, 'WRITE');
    try {
      for (let i = 0; i < 10; i++) log.emit(nodeDown(i));
      // Let the flusher send its batch, which Redis now holds.
      await new Promise((r) => setTimeout(r, 50));
      expect(log.stats()).toMatchObject({ written: 0, buffered: 10 });
      const started = Date.now();
      const stats = await log.close({ timeoutMs: 300 });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(stats).toMatchObject({ emitted: 10, written: 0, dropped: 10, buffered: 0, connected: false });
    } finally {
      await admin.client('UNPAUSE');
    }
  });

  it('close() during an outage gives up at its deadline and counts what was left as dropped', async () => {
    const log = new EventLog(connect(outage.url), { key: freshKey() });
    await waitFor('connected', () => log.stats().connected, 5_000);
    await goDown(log);
    for (let i = 0; i < 10; i++) log.emit(nodeDown(i));
    const started = Date.now();
    const stats = await log.close({ timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stats).toMatchObject({ emitted: 10, written: 0, dropped: 10, buffered: 0 });
    await outage.restart();
  });
});
