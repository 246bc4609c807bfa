import { type RestartPolicy, RestartPolicy_Condition, type Task, taskFailed } from '@flotilla/api';

export type RestartDecision =
  | { restart: false; reason: string }
  | { restart: true; at: number; history: bigint[]; consecutiveFailures: number };

const DEFAULT_DELAY_MS = 5_000;
/** With no delay configured, a failing task still waits this long, doubling. */
const MIN_BACKOFF_MS = 100;
/** Backoff stops doubling here (or at the configured delay, if longer). */
const MAX_BACKOFF_MS = 60_000;

/**
 * Whether and when a task that ended on its own is replaced, under the service's restart policy (swarm's
 * defaults: condition any, delay 5 s). Attempts are counted within the window, on the tasks themselves so the
 * count survives a manager failover; failures in a row double the delay, so a crash loop never spins hot.
 */
export function restartDecision(policy: RestartPolicy | undefined, ended: Task, now: number): RestartDecision {
  const condition = policy?.condition || RestartPolicy_Condition.CONDITION_ANY;
  const didFail = taskFailed(ended);
  if (condition === RestartPolicy_Condition.CONDITION_NONE) return { restart: false, reason: 'restart condition none' };
  if (condition === RestartPolicy_Condition.CONDITION_ON_FAILURE && !didFail) {
    return { restart: false, reason: 'exited cleanly (restart condition on-failure)' };
  }
  const endedAt = Number(ended.status?.timestampMs ?? 0n) || now;
  const windowMs = Number(policy?.windowNs ?? 0n) / 1e6;
  const maxAttempts = Number(policy?.maxAttempts ?? 0n);
  let history = [...ended.restartHistoryMs, BigInt(endedAt)];
  if (windowMs > 0) history = history.filter((t) => Number(t) > now - windowMs);
  if (maxAttempts > 0 && history.length > maxAttempts) {
    return { restart: false, reason: `restart limit reached (${maxAttempts} attempts)` };
  }
  // Only what the limit needs is kept.
  history = maxAttempts > 0 ? history.slice(-(maxAttempts + 1)) : [];
  const consecutiveFailures = didFail ? ended.consecutiveFailures + 1 : 0;
  return { restart: true, at: endedAt + restartDelayMs(policy, consecutiveFailures), history, consecutiveFailures };
}

/** The configured delay, doubled for each failure in a row after the first. */
export function restartDelayMs(policy: RestartPolicy | undefined, consecutiveFailures: number): number {
  const configured = policy?.delayNs === undefined ? DEFAULT_DELAY_MS : Number(policy.delayNs) / 1e6;
  if (consecutiveFailures === 0) return configured;
  const base = Math.max(configured, MIN_BACKOFF_MS);
  const cap = Math.max(configured, MAX_BACKOFF_MS);
  return Math.min(base * 2 ** Math.min(consecutiveFailures - 1, 20), cap);
}
