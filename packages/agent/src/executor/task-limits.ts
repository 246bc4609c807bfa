import type { Task } from '@flotilla/api';

/** A task's memory, CPU and pids limits, as both executors apply them; zero means none. */
export interface TaskLimits {
  memoryBytes: number;
  /** 1e9 is one CPU. */
  nanoCpus: number;
  pids: number;
}

export type LimitKind = 'memory' | 'cpu' | 'pids';

/** The CFS period CPU limits are set in (100 ms, as Docker sets it). */
export const CFS_PERIOD_US = 100_000;

export function limitsOf(task: Task): TaskLimits {
  const limits = task.resources?.limits;
  const positive = (v: bigint | undefined) => (v !== undefined && v > 0n ? Number(v) : 0);
  return {
    memoryBytes: positive(limits?.memoryBytes),
    nanoCpus: positive(limits?.nanoCpus),
    pids: positive(limits?.pids),
  };
}

export function requestedKinds(limits: TaskLimits): LimitKind[] {
  const kinds: LimitKind[] = [];
  if (limits.memoryBytes > 0) kinds.push('memory');
  if (limits.nanoCpus > 0) kinds.push('cpu');
  if (limits.pids > 0) kinds.push('pids');
  return kinds;
}

/** The CFS quota for a share of CPUs: that share of the period. */
export function cfsQuotaUs(nanoCpus: number): number {
  return Math.round((nanoCpus / 1e9) * CFS_PERIOD_US);
}
