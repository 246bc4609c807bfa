import { ManagedProcess, runPrefix, startRedis, type TestServer } from '@flotilla/test-servers';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, whenReady } from './connection.js';
import { logKey } from './keys.js';
import { type LogLine, LogReader } from './log-reader.js';
import { LogSink } from './log-sink.js';

let redis: TestServer;
const clients: Redis[] = [];

function connect(): Redis {
  const client = connectRedis({ url: redis.url, reconnectDelayMs: { first: 20, max: 200 } });
  clients.push(client);
  return client;
}

let tasks = 0;
/** A task ID of its own for each test (the run prefix keeps parallel runs apart). */
const freshTask = () => `${runPrefix()}task${++tasks}`;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.destroy();
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

const text = (lines: LogLine[]) => lines.map((l) => `${l.stream}:${l.line}`);

describe('per-task log streams on a real Redis', () => {
  it('appends lines to flotilla:logs:<taskId> and reads them back in order', async () => {
    const task = freshTask();
    const sink = new LogSink(connect());
    sink.append(task, 'stdout', ['starting', 'listening on :80']);
    sink.append(task, 'stderr', ['warning: no config']);
    sink.append(freshTask(), 'stdout', ['another task']);
    await waitFor('4 lines written', () => sink.stats().written === 4);

    const reader = new LogReader(connect());
    const lines = await collect(reader.tail(task));
    expect(text(lines)).toEqual(['stdout:starting', 'stdout:listening on :80', 'stderr:warning: no config']);
    expect(lines.every((l) => l.taskId === task && l.at > Date.now() - 60_000)).toBe(true);

    const admin = connect();
    await whenReady(admin, 5_000);
    expect(await admin.xlen(logKey(task))).toBe(3);
    // Streams of removed tasks must not stay forever.
    expect(await admin.ttl(logKey(task))).toBeGreaterThan(0);
    await sink.close();
    await reader.close();
  });

  it('follows new lines as they are appended, until the signal aborts', async () => {
    const task = freshTask();
    const sink = new LogSink(connect());
    sink.append(task, 'stdout', ['one']);
    await waitFor('written', () => sink.stats().written === 1);
    const reader = new LogReader(connect(), { blockMs: 200 });
    const controller = new AbortController();
    const seen: LogLine[] = [];
    const following = (async () => {
      for await (const line of reader.tail(task, { follow: true, signal: controller.signal })) {
        seen.push(line);
        if (seen.length === 1) sink.append(task, 'stderr', ['two', 'three']);
        if (seen.length === 3) sink.append(task, 'stdout', ['four']);
        if (seen.length === 4) controller.abort();
      }
    })();
    await Promise.race([following, new Promise((_, no) => setTimeout(() => no(new Error('follow stalled')), 10_000))]);
    expect(text(seen)).toEqual(['stdout:one', 'stderr:two', 'stderr:three', 'stdout:four']);
    await sink.close();
    await reader.close();
  });

  it('a follow with nothing to read yet ends when the reader closes', async () => {
    const reader = new LogReader(connect(), { blockMs: 200 });
    const following = collect(reader.tail(freshTask(), { follow: true }));
    await new Promise((r) => setTimeout(r, 300));
    await reader.close();
    await expect(following).resolves.toEqual([]);
  });

  it('starts after a line ID, at a time, or with the newest N lines', async () => {
    const task = freshTask();
    const sink = new LogSink(connect());
    sink.append(task, 'stdout', ['a', 'b', 'c']);
    await waitFor('written', () => sink.stats().written === 3);
    await new Promise((r) => setTimeout(r, 5));
    const cut = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    sink.append(task, 'stdout', ['d', 'e']);
    await waitFor('written', () => sink.stats().written === 5);

    const reader = new LogReader(connect());
    const all = await collect(reader.tail(task));
    expect(all.map((l) => l.line)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await collect(reader.tail(task, { since: all[1]?.id }))).map((l) => l.line)).toEqual(['c', 'd', 'e']);
    expect((await collect(reader.tail(task, { since: new Date(cut) }))).map((l) => l.line)).toEqual(['d', 'e']);
    expect((await collect(reader.tail(task, { lines: 2 }))).map((l) => l.line)).toEqual(['d', 'e']);
    expect(await collect(reader.tail(task, { lines: 0 }))).toEqual([]);
    await expect(collect(reader.tail('no:such task'))).rejects.toMatchObject({ reason: 'invalid-argument' });
    await sink.close();
    await reader.close();
  });

  it('caps each task stream with MAXLEN ~ and cuts runaway lines', async () => {
    const task = freshTask();
    const sink = new LogSink(connect(), { maxLen: 50, maxLineLength: 10 });
    sink.append(
      task,
      'stdout',
      Array.from({ length: 1_000 }, (_, i) => `line ${i} and more text`),
    );
    await waitFor('written', () => sink.stats().written === 1_000);
    const admin = connect();
    await whenReady(admin, 5_000);
    const length = await admin.xlen(logKey(task));
    expect(length).toBeGreaterThanOrEqual(50);
    expect(length).toBeLessThanOrEqual(150);
    const kept = await collect(new LogReader(connect()).tail(task));
    expect(kept.at(-1)?.line).toBe('line 999 a');
    await sink.close();
  });

  it('counts lines for an invalid task ID as rejected instead of throwing', async () => {
    const sink = new LogSink(connect());
    expect(() => sink.append('../etc', 'stdout', ['x', 'y'])).not.toThrow();
    expect(sink.stats()).toMatchObject({ emitted: 2, rejected: 2, buffered: 0 });
    await sink.close();
  });

  it("writes a node's lines under its own segment and reads them by node, or a stream of the old layout", async () => {
    const [task, old] = [freshTask(), freshTask()];
    const sink = new LogSink(connect(), { nodeId: 'nodeA' });
    sink.append(task, 'stdout', ['new']);
    const admin = connect();
    await whenReady(admin, 5_000);
    await admin.xadd(logKey(old), '*', 'stream', 'stdout', 'line', 'before', 'at', String(Date.now()));
    const reader = new LogReader(connect());
    await waitFor('the line is written', async () => (await admin.xlen(logKey(task, undefined, 'nodeA'))) === 1);
    expect(await admin.exists(logKey(task))).toBe(0);
    expect(text(await collect(reader.tail(task, { nodeId: 'nodeA' })))).toEqual(['stdout:new']);
    // A task that logged before node segments: its stream is found until it expires.
    expect(text(await collect(reader.tail(old, { nodeId: 'nodeA' })))).toEqual(['stdout:before']);
    expect(() => new LogSink(connect(), { nodeId: 'a:b' })).toThrow(/not a node ID/);
    await sink.close();
    await reader.close();
  });
});
