import type { Task } from '@flotilla/api';

/** How a task's process ended. */
export interface Exit {
  exitCode: number;
  /** Set when the runtime killed it for memory. */
  oomKilled?: boolean;
  /** A signal that ended it, if any. */
  signal?: string;
}

/** A task the runtime cannot run at all (no image, no command): it is rejected, not retried on this node. */
export class RejectedError extends Error {
  readonly code = 'rejected';
}

/**
 * A node's container runtime, one task at a time: prepare (pull, create) → start → wait → shutdown (stop
 * signal, grace, kill) → remove. The worker drives it and reports every transition; the executor only acts.
 */
export interface Executor {
  readonly name: string;
  prepare(task: Task): Promise<void>;
  start(task: Task): Promise<void>;
  /** Resolves when the task's process ends (at once if it already has). */
  wait(taskId: string): Promise<Exit>;
  /** Sends the stop signal, waits up to the grace period, then kills. Resolves once it has ended. */
  shutdown(taskId: string, signal: string, graceMs: number): Promise<void>;
  /** Frees what prepare() made. */
  remove(taskId: string): Promise<void>;
}
