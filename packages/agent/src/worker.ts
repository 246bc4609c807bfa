import { type Assignments, type Task, TaskState, type TaskStatus } from '@flotilla/api';
import { type Executor, RejectedError } from './executor/executor.js';

export interface WorkerOptions {
  executor: Executor;
  /** Sends status updates to the managers; false when there is no session (they are kept and sent later). */
  report: (updates: { taskId: string; status: TaskStatus }[]) => boolean;
  /** How often pending reports are sent (one batch each time). */
  flushMs?: number;
}

const DEFAULT_GRACE_MS = 10_000;

/**
 * The node's side of orchestration: reconciles the assignment set with what the executor runs. It starts what
 * is assigned and meant to run, stops what is told to stop or no longer assigned, and reports each task's state
 * (only ever forward) in batches. On every new session it reports every task's current state again, so a report
 * that a failed-over manager never wrote is not lost.
 */
export class Worker {
  private readonly tasks = new Map<string, TaskRun>();
  private readonly pending = new Map<string, TaskStatus>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: WorkerOptions) {
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 50);
  }

  apply(assignments: Assignments): void {
    if (assignments.full) {
      const assigned = new Set(assignments.tasks.map((t) => t.id));
      for (const [id, run] of this.tasks) {
        if (!assigned.has(id)) this.forget(id, run);
        else this.pending.set(id, run.status);
      }
    }
    for (const id of assignments.removedTaskIds) {
      const run = this.tasks.get(id);
      if (run) this.forget(id, run);
    }
    for (const task of assignments.tasks) {
      let run = this.tasks.get(task.id);
      if (!run) {
        // A task the managers think is under way, unknown here: its process is gone (the agent restarted).
        if (
          (task.status?.state ?? 0) >= TaskState.TASK_STATE_ACCEPTED &&
          task.desiredState <= TaskState.TASK_STATE_RUNNING
        ) {
          if ((task.status?.state ?? 0) < TaskState.TASK_STATE_COMPLETE) {
            this.pending.set(task.id, status(TaskState.TASK_STATE_FAILED, 'the node no longer runs it', 'task lost'));
          }
          continue;
        }
        run = new TaskRun(task, this.options.executor, (s) => this.pending.set(task.id, s));
        this.tasks.set(task.id, run);
      }
      run.update(task);
    }
  }

  /** Cut off from every manager: stop everything (the managers are replacing these tasks elsewhere). */
  fence(): void {
    for (const run of this.tasks.values()) void run.stop('the node was cut off from the managers');
  }

  /** Tasks known here, with their state (for metrics and tests). */
  states(): Map<string, TaskState> {
    return new Map([...this.tasks].map(([id, run]) => [id, run.status.state]));
  }

  /** Stops every task and the reporting (agent shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.tasks.values()].map((run) => run.stop('the agent stopped')));
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const updates = [...this.pending].map(([taskId, s]) => ({ taskId, status: s }));
    if (this.options.report(updates)) this.pending.clear();
  }

  private forget(id: string, run: TaskRun): void {
    this.tasks.delete(id);
    void run.stop('no longer assigned to this node');
  }
}

function status(state: TaskState, message: string, error = '', exitCode = 0): TaskStatus {
  return { state, timestampMs: BigInt(Date.now()), message, error, exitCode };
}

/** One task's lifecycle on this node: accepted → preparing → ready → starting → running → ended. */
class TaskRun {
  status: TaskStatus = status(TaskState.TASK_STATE_ASSIGNED, 'assigned');
  private started = false;
  private stopping: string | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private task: Task,
    private readonly executor: Executor,
    private readonly onStatus: (s: TaskStatus) => void,
  ) {}

  update(task: Task): void {
    this.task = task;
    if (task.desiredState >= TaskState.TASK_STATE_SHUTDOWN) void this.stop('stopped as asked');
    else this.running ??= this.run();
  }

  async stop(reason: string): Promise<void> {
    if (this.stopping !== undefined) return;
    this.stopping = reason;
    if (!this.running) {
      this.set(status(TaskState.TASK_STATE_SHUTDOWN, reason));
      return;
    }
    if (this.started) await this.shutdown();
    await this.running;
  }

  private async shutdown(): Promise<void> {
    const graceNs = this.task.spec?.stopGracePeriodNs ?? 0n;
    const graceMs = graceNs > 0n ? Number(graceNs / 1_000_000n) : DEFAULT_GRACE_MS;
    await this.executor.shutdown(this.task.id, this.task.spec?.stopSignal ?? '', graceMs).catch(() => undefined);
  }

  private set(next: TaskStatus): void {
    // States only move forward.
    if (next.state <= this.status.state) return;
    this.status = next;
    this.onStatus(next);
  }

  private async run(): Promise<void> {
    const id = this.task.id;
    try {
      this.set(status(TaskState.TASK_STATE_ACCEPTED, 'accepted'));
      this.set(status(TaskState.TASK_STATE_PREPARING, 'preparing'));
      await this.executor.prepare(this.task);
      this.set(status(TaskState.TASK_STATE_READY, 'ready'));
      if (this.stopping !== undefined) {
        this.set(status(TaskState.TASK_STATE_SHUTDOWN, this.stopping));
        return;
      }
      this.set(status(TaskState.TASK_STATE_STARTING, 'starting'));
      await this.executor.start(this.task);
      this.started = true;
      this.set(status(TaskState.TASK_STATE_RUNNING, 'started'));
      // Told to stop while it was starting: stop it now.
      if (this.stopping !== undefined) void this.shutdown();
      const exit = await this.executor.wait(id);
      if (this.stopping !== undefined) {
        this.set(status(TaskState.TASK_STATE_SHUTDOWN, this.stopping, '', exit.exitCode));
      } else if (exit.exitCode === 0 && !exit.oomKilled) {
        this.set(status(TaskState.TASK_STATE_COMPLETE, 'finished', '', 0));
      } else {
        const error = exit.oomKilled
          ? 'killed: out of memory'
          : exit.signal
            ? `killed by ${exit.signal}`
            : `exited with code ${exit.exitCode}`;
        this.set(status(TaskState.TASK_STATE_FAILED, 'failed', error, exit.exitCode));
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const state = err instanceof RejectedError ? TaskState.TASK_STATE_REJECTED : TaskState.TASK_STATE_FAILED;
      this.set(status(state, state === TaskState.TASK_STATE_REJECTED ? 'rejected' : 'failed', message));
    } finally {
      await this.executor.remove(id).catch(() => undefined);
    }
  }
}
