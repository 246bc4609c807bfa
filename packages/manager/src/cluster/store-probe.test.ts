import { Writable } from 'node:stream';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { StoreProbe } from './store-probe.js';

describe('StoreProbe', () => {
  it('says once when etcd stops answering (an error or no answer in time) and once when it is back', async () => {
    let clock = 0;
    let answer: 'ok' | 'refused' | 'hang' = 'ok';
    const lines: { level: number; msg: string; awayMs?: number }[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const log = createLogger('test', { level: 'info', destination });
    const probe = new StoreProbe({
      check: () =>
        answer === 'ok'
          ? Promise.resolve()
          : answer === 'refused'
            ? Promise.reject(new Error('connect ECONNREFUSED'))
            : new Promise(() => undefined),
      log,
      timeoutMs: 20,
      now: () => clock,
    });
    await probe.probe();
    expect(probe.up).toBe(true);
    answer = 'refused';
    clock = 1_000;
    await probe.probe();
    await probe.probe();
    expect(probe.up).toBe(false);
    clock = 3_500;
    expect(probe.downForMs()).toBe(3_500);
    answer = 'hang';
    await probe.probe();
    expect(probe.up).toBe(false);
    answer = 'ok';
    await probe.probe();
    expect(probe.up).toBe(true);
    expect(probe.downForMs()).toBe(0);
    // pino's levels: 40 warn, 30 info.
    expect(lines.map((l) => l.level)).toEqual([40, 30]);
    expect(lines[1]).toMatchObject({ msg: 'etcd answers again', awayMs: 3_500 });
  });

  it('a check that never settles counts as no answer', async () => {
    const probe = new StoreProbe({
      check: () => new Promise(() => undefined),
      log: createLogger('test', { level: 'silent' }),
      timeoutMs: 10,
    });
    await probe.probe();
    expect(probe.up).toBe(false);
  });

  it('checks on its own every interval, and stops even with a check hanging', async () => {
    let checks = 0;
    let hang = false;
    const probe = new StoreProbe({
      check: () => {
        checks++;
        return hang ? new Promise(() => undefined) : Promise.resolve();
      },
      log: createLogger('test', { level: 'silent' }),
      intervalMs: 5,
      timeoutMs: 50,
    });
    probe.start();
    await expect.poll(() => checks, { timeout: 2_000, interval: 5 }).toBeGreaterThanOrEqual(3);
    hang = true;
    await expect.poll(() => probe.up, { timeout: 2_000, interval: 5 }).toBe(false);
    await probe.stop();
    const after = checks;
    await new Promise((r) => setTimeout(r, 50));
    expect(checks).toBe(after);
  });
});
