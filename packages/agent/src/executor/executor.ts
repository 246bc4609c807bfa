import type { FileReference, HealthCheck, Task } from '@flotilla/api';

/** How a task's process ended. */
export interface Exit {
  exitCode: number;
  /** Set when the runtime killed it for memory. */
  oomKilled?: boolean;
  /** A signal that ended it, if any. */
  signal?: string;
}

/** What a command run inside a task's container printed, and how it ended (health checks). */
export interface ExecResult {
  exitCode: number;
  /** stdout and stderr together, cut to a few KiB. */
  output: string;
  /** True when it did not end within its timeout (it was killed). */
  timedOut?: boolean;
}

/** What a network health probe checks: an HTTP GET answered 2xx/3xx, or a TCP port that accepts. */
export type NetworkProbe = { kind: 'http'; port: number; path: string } | { kind: 'tcp'; port: number };

/** Where executors send what tasks print: whole lines, without their newlines. */
export type TaskOutput = (taskId: string, stream: 'stdout' | 'stderr', lines: string[]) => void;

/** Progress a long step reports while it runs (an image pull), shown in the task's status message. */
export type Progress = (message: string) => void;

/** A secret or config a task's container gets as a file, with its content (held in memory only). */
export interface TaskFileContent {
  kind: 'secret' | 'config';
  ref: FileReference;
  data: Buffer;
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
  /** Tasks keep running when the agent stops, and the next agent adopts them (containerd); else they stop. */
  readonly liveRestore?: boolean;
  /**
   * It can give a task's container its secrets and configs as files (without it, a task that uses any is
   * rejected): never on the node's disk.
   */
  readonly deliversFiles?: boolean;
  /** `files`: the task's secrets and configs with their contents, to be put where the task reads them. */
  prepare(task: Task, progress?: Progress, files?: TaskFileContent[]): Promise<void>;
  start(task: Task): Promise<void>;
  /** Resolves when the task's process ends (at once if it already has). */
  wait(taskId: string): Promise<Exit>;
  /**
   * Sends the stop signal, waits up to the grace period, then kills. Resolves once it has ended. Before the signal
   * a task on an overlay network is given time to finish its open connections (it already left every node's load
   * balancing), unless `drain` is false: a fenced task must be gone before its replacement starts.
   */
  shutdown(taskId: string, signal: string, graceMs: number, options?: { drain?: boolean }): Promise<void>;
  /** Frees what prepare() made. */
  remove(taskId: string): Promise<void>;
  /** Runs a command inside the task's container (health checks); killed after timeoutMs. */
  exec(taskId: string, argv: string[], timeoutMs: number): Promise<ExecResult>;
  /**
   * Live restore: true when the task's container outlived an agent restart and still runs, in which case the
   * executor has taken it back (wait/shutdown/exec work on it) and the worker reports it running again.
   */
  adopt(task: Task): Promise<boolean>;
  /**
   * Runs an HTTP GET or a TCP connect to 127.0.0.1 inside the task's own network namespace (health probes of
   * a container that has one). Without it, the agent probes the task's address from its own namespace.
   */
  networkProbe?(taskId: string, probe: NetworkProbe, timeoutMs: number): Promise<ExecResult>;
  /** The healthcheck the task's image declares (Docker's HEALTHCHECK), used when the service sets none. */
  imageHealthcheck?(taskId: string): HealthCheck | undefined;
  /**
   * Called after each full assignment set, once the tasks in it were adopted where they could be: anything the
   * runtime holds for this node beyond `known` (task IDs) is left from before and may be removed.
   */
  reconcile?(known: ReadonlySet<string>): Promise<void>;
  /** Releases connections and timers (agent stop). */
  close?(): void | Promise<void>;
}
