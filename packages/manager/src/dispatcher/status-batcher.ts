import { type Task, TaskState, type TaskStatus } from '@flotilla/api';
import type { Informer, Store, Write } from '@flotilla/store';

export interface StatusReport {
  nodeId: string;
  taskId: string;
  status: TaskStatus;
}

export interface BatcherStats {
  written: number;
  /** Reports about tasks not assigned to the reporting node (or unknown tasks): never written. */
  refused: number;
  /** Reports that would move a task's state backwards: ignored. */
  stale: number;
  batches: number;
}

/**
 * Writes task status reports in batches (up to `maxBatch` reports or every `intervalMs`), never one transaction
 * per report. A node may only report on tasks assigned to it, and a task's state only moves forward; within the
 * same state, a report may still change what the status says (a running task's health).
 */
export class StatusBatcher {
  private pending = new Map<string, StatusReport>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  constructor(
    private readonly store: Store,
    private readonly tasks: Informer<'tasks'>,
    private readonly options: { maxBatch?: number; intervalMs?: number } = {},
    readonly stats: BatcherStats = { written: 0, refused: 0, stale: 0, batches: 0 },
  ) {}

  /**
   * Takes a report to write with the next batch; a report about a task not assigned to its node (or unknown) is
   * refused at once, so that what waits is one report per task of the cluster at most, whatever nodes send.
   */
  report(report: StatusReport): boolean {
    if (this.tasks.get(report.taskId)?.value.nodeId !== report.nodeId) {
      this.stats.refused++;
      return false;
    }
    // A newer report about the same task replaces an older one still waiting.
    this.pending.set(report.taskId, report);
    if (this.pending.size >= (this.options.maxBatch ?? 10_000)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.intervalMs ?? 100);
    return true;
  }

  /** Reports waiting for the next batch. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes what is pending; concurrent calls wait for the same flush. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
      if (this.pending.size > 0) this.timer ??= setTimeout(() => void this.flush(), this.options.intervalMs ?? 100);
    });
    return this.flushing;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async write(): Promise<void> {
    const reports = [...this.pending.values()];
    this.pending.clear();
    const writes: Write[] = [];
    for (const report of reports) {
      const current = this.tasks.get(report.taskId);
      if (!current || current.value.nodeId !== report.nodeId) {
        this.stats.refused++;
        continue;
      }
      const verdict = statusChange(current.value.status, report.status);
      if (verdict === 'stale') this.stats.stale++;
      if (verdict !== 'write') continue;
      const value: Task = { ...current.value, status: report.status, updatedAtMs: BigInt(Date.now()) };
      writes.push({ op: 'update', kind: 'tasks', id: report.taskId, value, version: current.version });
    }
    if (writes.length === 0) return;
    this.stats.batches++;
    try {
      await this.store.batch(writes, { inFlight: 16 });
      this.stats.written += writes.length;
    } catch {
      // A conflict (the orchestrator changed a task meanwhile) or an outage: the reports are tried again on the
      // next flush against fresh state, unless newer ones arrived.
      for (const report of reports) if (!this.pending.has(report.taskId)) this.pending.set(report.taskId, report);
    }
  }
}

/**
 * What to do with a node's report about a task: write it when it moves the state forward, or keeps the state and
 * says something new (health, progress); it is stale when it would move the state back, and unchanged when it
 * says again what is stored (as every report on a new session does), which is not worth a write.
 */
export function statusChange(current: TaskStatus | undefined, next: TaskStatus): 'write' | 'stale' | 'unchanged' {
  const was = order(current?.state ?? TaskState.TASK_STATE_UNSPECIFIED);
  const now = order(next.state);
  if (now < was) return 'stale';
  if (now > was || !current) return 'write';
  const same =
    current.state === next.state &&
    current.timestampMs === next.timestampMs &&
    current.message === next.message &&
    current.error === next.error &&
    current.exitCode === next.exitCode &&
    (current.health ?? 0) === (next.health ?? 0) &&
    (current.healthOutput ?? '') === (next.healthOutput ?? '');
  return same ? 'unchanged' : 'write';
}

/** Task states in the order they may move; terminal states share the last rank. */
function order(state: TaskState): number {
  return Math.min(state, TaskState.TASK_STATE_COMPLETE);
}
