import { HealthCheck, TaskHealth } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import {
  afterProbe,
  type Clock,
  HEALTH_OUTPUT_LIMIT,
  HealthMonitor,
  type HealthState,
  type HealthTiming,
  healthTiming,
  INITIAL_HEALTH,
  nextProbeDelay,
  type ProbeResult,
} from './health-monitor.js';

const { TASK_HEALTH_STARTING: STARTING, TASK_HEALTH_HEALTHY: HEALTHY, TASK_HEALTH_UNHEALTHY: UNHEALTHY } = TaskHealth;
const MS = 1_000_000n;

/** A clock that moves only when the test says so. */
class FakeClock implements Clock {
  private at = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now(): number {
    return this.at;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ at: this.at + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves time forward, firing due timers in order and letting the promises they start settle. */
  async advance(ms: number): Promise<void> {
    const until = this.at + ms;
    for (;;) {
      await flushPromises();
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.at = due.at;
      due.fn();
    }
    this.at = until;
    await flushPromises();
  }
}

const flushPromises = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const timing = (t: Partial<HealthTiming> = {}): HealthTiming => ({
  intervalMs: 1000,
  timeoutMs: 500,
  retries: 3,
  startPeriodMs: 0,
  startIntervalMs: 0,
  ...t,
});

/** A monitor whose probe answers from a script (true: healthy), recording each change of health. */
function monitor(t: HealthTiming, answers: (boolean | 'hang')[]) {
  const clock = new FakeClock();
  const changes: HealthState[] = [];
  const probes: number[] = [];
  let n = 0;
  const probe = (): Promise<ProbeResult> => {
    probes.push(clock.now());
    const answer = answers[Math.min(n++, answers.length - 1)];
    if (answer === 'hang') return new Promise(() => undefined);
    return Promise.resolve({ healthy: answer === true, output: answer ? 'ok' : `failure ${n}` });
  };
  const m = new HealthMonitor({ timing: t, probe, onChange: (s) => changes.push(s), clock });
  return { m, clock, changes, probes, health: () => changes.map((c) => c.health) };
}

describe('health decisions', () => {
  const t = timing({ startPeriodMs: 10_000 });
  const fail = { healthy: false, output: 'no' };

  it('does not count failures within the start period, but a success there makes it healthy', () => {
    const s = afterProbe(INITIAL_HEALTH, fail, 5_000, 0, t);
    expect(s).toMatchObject({ health: STARTING, failures: 0, output: 'no' });
    expect(afterProbe(s, { healthy: true, output: '' }, 6_000, 0, t).health).toBe(HEALTHY);
  });

  it('counts failures after the start period, and once healthy, also within it', () => {
    expect(afterProbe(INITIAL_HEALTH, fail, 10_000, 0, t).failures).toBe(1);
    const healthy: HealthState = { health: HEALTHY, failures: 0, output: '' };
    expect(afterProbe(healthy, fail, 1_000, 0, t)).toMatchObject({ health: HEALTHY, failures: 1 });
  });

  it('is unhealthy after `retries` failures in a row; a success clears them', () => {
    let s: HealthState = { health: HEALTHY, failures: 0, output: '' };
    s = afterProbe(s, fail, 20_000, 0, t);
    s = afterProbe(s, fail, 21_000, 0, t);
    s = afterProbe(s, { healthy: true, output: '' }, 22_000, 0, t);
    expect(s.failures).toBe(0);
    for (let i = 0; i < 3; i++) s = afterProbe(s, fail, 23_000 + i, 0, t);
    expect(s.health).toBe(UNHEALTHY);
  });

  it('cuts long output', () => {
    const s = afterProbe(INITIAL_HEALTH, { healthy: false, output: 'x'.repeat(5000) }, 0, 0, t);
    expect(s.output.length).toBe(HEALTH_OUTPUT_LIMIT);
  });

  it('probes at the start interval while starting within the start period, then at the interval', () => {
    const s = timing({ startPeriodMs: 10_000, startIntervalMs: 200 });
    expect(nextProbeDelay(INITIAL_HEALTH, 0, 0, s)).toBe(200);
    expect(nextProbeDelay(INITIAL_HEALTH, 10_000, 0, s)).toBe(1000);
    expect(nextProbeDelay({ ...INITIAL_HEALTH, health: HEALTHY }, 100, 0, s)).toBe(1000);
    expect(nextProbeDelay(INITIAL_HEALTH, 0, 0, timing({ startPeriodMs: 10_000 }))).toBe(1000);
  });

  it("applies Docker's defaults to what a healthcheck leaves at zero", () => {
    expect(healthTiming(HealthCheck.fromPartial({ test: ['CMD', 'true'] }))).toEqual({
      intervalMs: 30_000,
      timeoutMs: 30_000,
      retries: 3,
      startPeriodMs: 0,
      startIntervalMs: 0,
    });
    expect(
      healthTiming(HealthCheck.fromPartial({ intervalNs: 5n * 1000n * MS, timeoutNs: 2n * MS, retries: 1 })),
    ).toMatchObject({ intervalMs: 5000, timeoutMs: 2, retries: 1 });
  });
});

describe('health monitor', () => {
  it('says starting at once, probes one interval after the start, and reports only changes', async () => {
    const { m, clock, health, probes } = monitor(timing(), [true]);
    m.start();
    expect(health()).toEqual([STARTING]);
    await clock.advance(999);
    expect(probes).toEqual([]);
    await clock.advance(1);
    expect(health()).toEqual([STARTING, HEALTHY]);
    await clock.advance(3000);
    expect(probes).toEqual([1000, 2000, 3000, 4000]);
    expect(health()).toEqual([STARTING, HEALTHY]);
    m.stop();
  });

  it('goes unhealthy after `retries` failures in a row and stops probing', async () => {
    const { m, clock, changes, probes } = monitor(timing({ retries: 2 }), [true, false, true, false, false]);
    m.start();
    await clock.advance(10_000);
    expect(changes.map((c) => c.health)).toEqual([STARTING, HEALTHY, UNHEALTHY]);
    expect(changes.at(-1)?.output).toBe('failure 5');
    expect(probes).toHaveLength(5);
  });

  it('does not count failures in the start period, probing at the start interval there', async () => {
    const { m, clock, health, probes } = monitor(timing({ startPeriodMs: 2000, startIntervalMs: 100, retries: 1 }), [
      false,
      false,
      false,
      true,
    ]);
    m.start();
    await clock.advance(400);
    expect(probes).toEqual([100, 200, 300, 400]);
    expect(health()).toEqual([STARTING, HEALTHY]);
    m.stop();
  });

  it('counts a probe that hangs past its timeout as failed', async () => {
    const { m, clock, changes } = monitor(timing({ retries: 1, timeoutMs: 300 }), ['hang']);
    m.start();
    await clock.advance(1299);
    expect(changes).toHaveLength(1);
    await clock.advance(1);
    expect(changes.at(-1)).toMatchObject({ health: UNHEALTHY, output: 'the probe did not finish within 300ms' });
  });

  it('is silent once stopped, even when a probe was under way', async () => {
    const { m, clock, changes } = monitor(timing({ retries: 1, timeoutMs: 300 }), ['hang']);
    m.start();
    await clock.advance(1100);
    m.stop();
    await clock.advance(5000);
    expect(changes.map((c) => c.health)).toEqual([STARTING]);
  });
});
