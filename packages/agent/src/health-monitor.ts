import { type HealthCheck, TaskHealth } from '@flotilla/api';
import { errorMessage } from './error-message.js';

/** Docker's defaults for what a healthcheck leaves at zero (the stack file leaves them at zero too). */
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3 } as const;

/** A probe's output is kept to this many characters: enough to say why, small enough for every status write. */
export const HEALTH_OUTPUT_LIMIT = 1024;

/** A healthcheck's timing in milliseconds, with Docker's defaults applied. */
export interface HealthTiming {
  intervalMs: number;
  timeoutMs: number;
  /** Failures in a row (after the start period) that make a task unhealthy. */
  retries: number;
  /** From the start, failures do not count for this long (a success still makes the task healthy). */
  startPeriodMs: number;
  /** Time between probes during the start period; zero: the interval. */
  startIntervalMs: number;
}

export function healthTiming(check: HealthCheck): HealthTiming {
  const ms = (ns: bigint, fallback: number) => (ns > 0n ? Number(ns / 1_000_000n) || 1 : fallback);
  return {
    intervalMs: ms(check.intervalNs, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: ms(check.timeoutNs, HEALTH_DEFAULTS.timeoutMs),
    retries: check.retries > 0 ? check.retries : HEALTH_DEFAULTS.retries,
    startPeriodMs: ms(check.startPeriodNs, 0),
    startIntervalMs: ms(check.startIntervalNs, 0),
  };
}

export interface ProbeResult {
  healthy: boolean;
  /** What the probe printed or found, for the status (cut to HEALTH_OUTPUT_LIMIT). */
  output: string;
}

/** One health probe. It should give up after timeoutMs; the monitor counts it failed at that point either way. */
export type Probe = (timeoutMs: number) => Promise<ProbeResult>;

export interface HealthState {
  health: TaskHealth;
  /** Failed probes in a row that counted (not those in the start period). */
  failures: number;
  output: string;
}

export const INITIAL_HEALTH: HealthState = { health: TaskHealth.TASK_HEALTH_STARTING, failures: 0, output: '' };

/**
 * The health after one probe, as Docker decides it: a success makes the task healthy and clears the failures; a
 * failure counts unless the task has never been healthy and the probe began within the start period; `retries`
 * counted failures in a row make it unhealthy.
 */
export function afterProbe(
  state: HealthState,
  result: ProbeResult,
  probeStartedMs: number,
  startedAtMs: number,
  timing: HealthTiming,
): HealthState {
  const output = cut(result.output);
  if (result.healthy) return { health: TaskHealth.TASK_HEALTH_HEALTHY, failures: 0, output };
  const inStartPeriod =
    state.health === TaskHealth.TASK_HEALTH_STARTING && probeStartedMs - startedAtMs < timing.startPeriodMs;
  if (inStartPeriod) return { ...state, output };
  const failures = state.failures + 1;
  return { health: failures >= timing.retries ? TaskHealth.TASK_HEALTH_UNHEALTHY : state.health, failures, output };
}

/** How long to wait before the next probe: the start interval while still starting within the start period. */
export function nextProbeDelay(state: HealthState, nowMs: number, startedAtMs: number, timing: HealthTiming): number {
  const starting = state.health === TaskHealth.TASK_HEALTH_STARTING && nowMs - startedAtMs < timing.startPeriodMs;
  return starting && timing.startIntervalMs > 0 ? timing.startIntervalMs : timing.intervalMs;
}

/** Time and timers, injected so tests can drive a monitor without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface HealthMonitorOptions {
  timing: HealthTiming;
  probe: Probe;
  /** Called with each change of health (not each probe): starting at once, then healthy or unhealthy. */
  onChange: (state: HealthState) => void;
  clock?: Clock;
}

/**
 * Probes one running task, one probe at a time, each `interval` after the previous one ended (the first one
 * interval after the start, as Docker does). It stops by itself once the task is unhealthy: the worker then
 * stops the task, so there is nothing more to watch.
 */
export class HealthMonitor {
  private state = INITIAL_HEALTH;
  private startedAtMs = 0;
  private timer: unknown;
  private stopped = false;
  private readonly clock: Clock;

  constructor(private readonly options: HealthMonitorOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get current(): HealthState {
    return this.state;
  }

  start(): void {
    this.startedAtMs = this.clock.now();
    this.options.onChange(this.state);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = nextProbeDelay(this.state, this.clock.now(), this.startedAtMs, this.options.timing);
    this.timer = this.clock.setTimeout(() => void this.probeOnce(), delay);
  }

  private async probeOnce(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const began = this.clock.now();
    const result = await this.probeWithin(this.options.timing.timeoutMs);
    if (this.stopped) return;
    const before = this.state.health;
    this.state = afterProbe(this.state, result, began, this.startedAtMs, this.options.timing);
    if (this.state.health !== before) this.options.onChange(this.state);
    if (this.state.health === TaskHealth.TASK_HEALTH_UNHEALTHY) this.stop();
    else this.schedule();
  }

  /** The probe's result, or a failure once the timeout has passed (a probe that hangs must not stall health). */
  private probeWithin(timeoutMs: number): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(
        () => resolve({ healthy: false, output: `the probe did not finish within ${formatMs(timeoutMs)}` }),
        timeoutMs,
      );
      this.options.probe(timeoutMs).then(
        (result) => {
          this.clock.clearTimeout(timer);
          resolve(result);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          resolve({ healthy: false, output: errorMessage(err) });
        },
      );
    });
  }
}

function cut(output: string): string {
  const trimmed = output.trim();
  return trimmed.length > HEALTH_OUTPUT_LIMIT ? `${trimmed.slice(0, HEALTH_OUTPUT_LIMIT - 1)}…` : trimmed;
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
