import { setTimeout as sleep } from 'node:timers/promises';
import { type Assignments, type Disconnect, type Task, TaskHealth, TaskState, type TaskStatus } from '@flotilla/api';
import { createLogger, type Logger } from '@flotilla/observability';
import { errorMessage } from './error-message.js';
import { type Executor, type Progress, RejectedError } from './executor/executor.js';
import { HealthMonitor, type HealthState, healthTiming } from './health-monitor.js';
import { probeFor } from './health-probe.js';
import { HeldFiles } from './held-files.js';

export interface WorkerOptions {
  executor: Executor;
  /** Sends status updates to the managers; false when there is no session (they are kept and sent later). */
  report: (updates: { taskId: string; status: TaskStatus }[]) => boolean;
  /** How often pending reports are sent (one batch each time). */
  flushMs?: number;
  /**
   * Where HTTP and TCP health probes reach a task. Default: 127.0.0.1, right for processes and host-network
   * containers; a task on an overlay network is reached at its own address, which the network driver gives.
   */
  taskAddress?: (task: Task) => string;
  /** Progress messages of a long step (an image pull) are reported at most this often (default 500 ms). */
  progressIntervalMs?: number;
  /** Where failures the worker gets past are logged (default: a logger of its own). */
  logger?: Logger;
  /** Follows each task's `logging:` from before it runs (or is adopted) until it is removed (see TaskLogs). */
  logs?: TaskLogRouting;
}

/** What the worker tells the node's task logs of each task's lifetime on the node. */
export interface TaskLogRouting {
  bind(task: Task): void;
  unbind(taskId: string): void;
}

const DEFAULT_GRACE_MS = 10_000;
/**
 * The most a fenced task is given between its stop signal and SIGKILL. The leader replaces it one heartbeat grace
 * after the node fell silent, about a second after the node fenced: the task must be gone by then, whatever its
 * own stop grace period says.
 */
export const FENCE_GRACE_MS = 250;

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
  private readonly env: RunEnv;
  /** The secrets' and configs' contents the managers sent for this node's tasks (in memory only). */
  private readonly files = new HeldFiles();

  constructor(private readonly options: WorkerOptions) {
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 50);
    this.env = {
      executor: options.executor,
      address: options.taskAddress ?? (() => '127.0.0.1'),
      progressIntervalMs: options.progressIntervalMs ?? 500,
      log: options.logger ?? createLogger('worker'),
      files: this.files,
      runOf: (id) => this.tasks.get(id),
      ...(options.logs ? { logs: options.logs } : {}),
    };
  }

  apply(assignments: Assignments): void {
    // Before the tasks: those that start now find their files.
    this.files.apply(assignments);
    if (assignments.full) {
      const assigned = new Set(assignments.tasks.map((t) => t.id));
      for (const [id, run] of this.tasks) {
        if (!assigned.has(id)) this.forget(id, run);
        // Nothing to say again yet about a task still being adopted.
        else if (run.status.state >= TaskState.TASK_STATE_ACCEPTED) this.pending.set(id, run.status);
      }
    }
    for (const id of assignments.removedTaskIds) {
      const run = this.tasks.get(id);
      if (run) this.forget(id, run);
    }
    const adoptions: Promise<void>[] = [];
    for (const task of assignments.tasks) {
      let run = this.tasks.get(task.id);
      if (!run) {
        const state = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
        // Ended before this agent started: nothing to run, stop or say.
        if (state >= TaskState.TASK_STATE_COMPLETE) continue;
        run = new TaskRun(task, this.env, (s) => this.onStatus(task.id, s));
        // Known from here on, before the executor answers: assignments that arrive meanwhile find this run.
        this.tasks.set(task.id, run);
        // A task the managers think is under way, unknown here: this agent restarted while it ran. It is taken
        // back even when it is to stop, so that it is stopped properly (signal, grace) rather than left running.
        if (state >= TaskState.TASK_STATE_ACCEPTED) adoptions.push(run.adopt());
      }
      run.update(task);
    }
    if (assignments.full) {
      // What the managers assign is all this node should run: once adoptions are decided, the runtime may
      // clear what is left from before (containers of tasks that ended or moved while the agent was away).
      const known = new Set(assignments.tasks.map((t) => t.id));
      void Promise.all(adoptions)
        .then(() => this.env.executor.reconcile?.(new Set([...known, ...this.tasks.keys()])))
        // What is left from before stays until the next full assignment set tries again.
        .catch((err: unknown) => this.env.log.warn({ err: errorMessage(err) }, 'leftover tasks not cleared'));
    }
  }

  /**
   * Cut off from the managers: stops these tasks, or every task (the managers are replacing them elsewhere).
   */
  fence(ids?: Iterable<string>): void {
    const runs = ids ? [...ids].flatMap((id) => this.tasks.get(id) ?? []) : this.tasks.values();
    for (const run of runs) void run.stop('the node was cut off from the managers', FENCE_GRACE_MS);
  }

  /** The tasks known here, each with what its service says about a node cut off (for fencing). */
  disconnectPolicies(): { id: string; disconnect: Disconnect | undefined }[] {
    return [...this.tasks].map(([id, run]) => ({ id, disconnect: run.disconnect }));
  }

  /** Tasks known here, with their state (for metrics and tests). */
  states(): Map<string, TaskState> {
    return new Map([...this.tasks].map(([id, run]) => [id, run.status.state]));
  }

  /** The secrets and configs held for this node's tasks (their version IDs: tests and metrics). */
  heldFiles(): string[] {
    return this.files.holding();
  }

  /** Stops every task and the reporting (agent shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.tasks.values()].map((run) => run.stop('the agent stopped')));
    this.files.clear();
  }

  /**
   * Lets go of every task without stopping it (agent restart or upgrade with a runtime that keeps containers
   * running): reporting and health probes stop here, and the next agent adopts the tasks.
   */
  detach(): void {
    clearInterval(this.timer);
    for (const run of this.tasks.values()) run.detach();
    this.tasks.clear();
    this.files.clear();
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const updates = [...this.pending].map(([taskId, s]) => ({ taskId, status: s }));
    if (this.options.report(updates)) this.pending.clear();
  }

  private onStatus(taskId: string, s: TaskStatus): void {
    this.pending.set(taskId, s);
    // A sidecar lives in its main task's network namespace: when the main task ends here, so do its sidecars
    // (without waiting for the managers, which place new ones beside the main task's replacement).
    if (s.state < TaskState.TASK_STATE_COMPLETE) return;
    for (const run of this.tasks.values()) if (run.mainTaskId === taskId) void run.stop('its main task ended');
  }

  private forget(id: string, run: TaskRun): void {
    this.tasks.delete(id);
    void run.stop('no longer assigned to this node');
  }
}

/** What every task run on this node shares. */
interface RunEnv {
  executor: Executor;
  address: (task: Task) => string;
  progressIntervalMs: number;
  log: Logger;
  files: HeldFiles;
  /** Another task's run on this node (a sidecar's main task). */
  runOf: (taskId: string) => TaskRun | undefined;
  logs?: TaskLogRouting;
}

/** How often a sidecar looks whether its main task runs yet, and how long it waits for one this node does not know. */
const MAIN_POLL_MS = 100;
const UNKNOWN_MAIN_MS = 30_000;

function status(state: TaskState, message: string, error = '', exitCode = 0): TaskStatus {
  return { state, timestampMs: BigInt(Date.now()), message, error, exitCode };
}

/** What may change in a status without a change of state. */
type Amendment = Partial<Pick<TaskStatus, 'message' | 'health' | 'healthOutput'>>;

/**
 * One task's lifecycle on this node: accepted → preparing → ready → starting → running → ended, or, for a task
 * that outlived an agent restart, adopted → running → ended. While it runs, its healthcheck (if any) is probed;
 * an unhealthy task is stopped and reported failed, so its restart policy applies.
 */
class TaskRun {
  status: TaskStatus = status(TaskState.TASK_STATE_ASSIGNED, 'assigned');
  private started = false;
  private stopping: string | undefined;
  /** Why the healthcheck found it unhealthy, once it has. */
  private unhealthy: string | undefined;
  private running: Promise<void> | undefined;
  private monitor: HealthMonitor | undefined;
  /** Let go of by an agent that stops while the task runs on (live restore): nothing more is done to it. */
  private detached = false;

  constructor(
    private task: Task,
    private readonly env: RunEnv,
    private readonly onStatus: (s: TaskStatus) => void,
  ) {}

  get disconnect(): Disconnect | undefined {
    return this.task.disconnect;
  }

  /** A sidecar's main task (empty for other tasks). */
  get mainTaskId(): string {
    return this.task.mainTaskId;
  }

  /** It was told to stop, or it ended. */
  get ending(): boolean {
    return this.stopping !== undefined || this.status.state >= TaskState.TASK_STATE_COMPLETE;
  }

  update(task: Task): void {
    this.task = task;
    if (task.desiredState >= TaskState.TASK_STATE_SHUTDOWN) void this.stop('stopped as asked');
    else this.running ??= this.run();
  }

  /** Live restore: takes back a task that ran before the agent restarted, instead of starting it. */
  /** Resolves once the executor has said whether it could take the task back. */
  adopt(): Promise<void> {
    let taken: () => void = () => undefined;
    const decided = new Promise<void>((resolve) => {
      taken = resolve;
    });
    if (this.running) return Promise.resolve();
    this.running = this.resume(taken);
    return decided;
  }

  detach(): void {
    this.detached = true;
    this.monitor?.stop();
  }

  /**
   * Stops the task: its stop signal, then SIGKILL after its grace period. `maxGraceMs` (a fence): no drain before
   * the signal, and SIGKILL after that long if it is shorter.
   */
  async stop(reason: string, maxGraceMs?: number): Promise<void> {
    if (this.stopping !== undefined) return;
    this.stopping = reason;
    this.monitor?.stop();
    if (!this.running) {
      this.set(status(TaskState.TASK_STATE_SHUTDOWN, reason));
      return;
    }
    if (this.started) await this.shutdown(maxGraceMs);
    await this.running;
  }

  private async shutdown(maxGraceMs = Number.POSITIVE_INFINITY): Promise<void> {
    const graceNs = this.task.spec?.stopGracePeriodNs ?? 0n;
    const graceMs = Math.min(maxGraceMs, graceNs > 0n ? Number(graceNs / 1_000_000n) : DEFAULT_GRACE_MS);
    const urgent = maxGraceMs !== Number.POSITIVE_INFINITY;
    // How the task ends is still what its wait() says; a stop that failed leaves it running, which is logged.
    await this.env.executor
      .shutdown(this.task.id, this.task.spec?.stopSignal ?? '', graceMs, urgent ? { drain: false } : undefined)
      .catch((err: unknown) => this.env.log.warn({ task: this.task.id, err: errorMessage(err) }, 'task not stopped'));
  }

  /** Frees what the task had on the node; what cannot be freed is logged (the runtime clears it as an orphan). */
  private async removeFromNode(): Promise<void> {
    await this.env.executor
      .remove(this.task.id)
      .catch((err: unknown) =>
        this.env.log.warn({ task: this.task.id, err: errorMessage(err) }, 'what the task left on the node not removed'),
      );
    // After remove: the executor has drained the task's output by then.
    this.env.logs?.unbind(this.task.id);
  }

  private set(next: TaskStatus): void {
    if (this.detached) return;
    // States only move forward.
    if (next.state <= this.status.state) return;
    this.status = next;
    this.onStatus(next);
  }

  /** Changes what the status says within `state` (health, progress), keeping the time the state began. */
  private amend(state: TaskState, fields: Amendment): void {
    if (this.status.state !== state) return;
    const next = { ...this.status, ...fields };
    const same =
      next.message === this.status.message &&
      next.health === this.status.health &&
      next.healthOutput === this.status.healthOutput;
    if (same) return;
    this.status = next;
    this.onStatus(next);
  }

  private async run(): Promise<void> {
    try {
      this.env.logs?.bind(this.task);
      this.set(status(TaskState.TASK_STATE_ACCEPTED, 'accepted'));
      this.set(status(TaskState.TASK_STATE_PREPARING, 'preparing'));
      if (this.task.mainTaskId && !(await this.mainRunning())) {
        this.set(status(TaskState.TASK_STATE_SHUTDOWN, this.stopping ?? 'stopped'));
        return;
      }
      const progress = this.progressReporter();
      try {
        const files = this.env.files.forTask(this.task, this.env.executor);
        await this.env.executor.prepare(this.task, progress.report, files);
      } finally {
        progress.stop();
      }
      this.set(status(TaskState.TASK_STATE_READY, 'ready'));
      if (this.stopping !== undefined) {
        this.set(status(TaskState.TASK_STATE_SHUTDOWN, this.stopping));
        return;
      }
      this.set(status(TaskState.TASK_STATE_STARTING, 'starting'));
      await this.env.executor.start(this.task);
      this.started = true;
      this.set(status(TaskState.TASK_STATE_RUNNING, 'started'));
      await this.watch();
    } catch (err) {
      this.fail(err);
    } finally {
      // A detached task keeps its container for the next agent to adopt.
      if (!this.detached) await this.removeFromNode();
    }
  }

  private async resume(decided: () => void): Promise<void> {
    let adopted = false;
    let why = '';
    try {
      this.env.logs?.bind(this.task);
      adopted = await this.env.executor.adopt(this.task);
    } catch (err) {
      why = `: ${errorMessage(err)}`;
    }
    decided();
    try {
      if (!adopted) {
        // Gone with the agent's restart: the orchestrator replaces it (or, if it was to stop anyway, it has).
        if (this.stopping !== undefined) this.set(status(TaskState.TASK_STATE_SHUTDOWN, this.stopping));
        else this.set(status(TaskState.TASK_STATE_FAILED, `the node no longer runs it${why}`, 'task lost'));
        return;
      }
      this.started = true;
      this.set(status(TaskState.TASK_STATE_RUNNING, 'adopted after agent restart'));
      await this.watch();
    } catch (err) {
      this.fail(err);
    } finally {
      // Also what a task that was not adopted left behind (a dead container).
      // A detached task keeps its container for the next agent to adopt.
      if (!this.detached) await this.removeFromNode();
    }
  }

  /**
   * A sidecar starts only once its main task runs on this node (it joins the main task's network namespace):
   * false if it was told to stop meanwhile; fails if the main task ended or this node never gets it.
   */
  private async mainRunning(): Promise<boolean> {
    const id = this.task.mainTaskId;
    const giveUpAt = Date.now() + UNKNOWN_MAIN_MS;
    for (;;) {
      if (this.stopping !== undefined) return false;
      const main = this.env.runOf(id);
      if (main?.ending || (!main && Date.now() > giveUpAt)) {
        throw new Error(`its main task ${id} is not running on this node: a sidecar runs only beside it`);
      }
      if (main?.status.state === TaskState.TASK_STATE_RUNNING) return true;
      this.amend(TaskState.TASK_STATE_PREPARING, { message: `waiting for its main task ${id} to run` });
      await sleep(MAIN_POLL_MS);
    }
  }

  /** From running to its end: health probes, a stop asked for while it started, and how it ended. */
  private async watch(): Promise<void> {
    // Told to stop while it was starting (or being adopted): stop it now.
    if (this.stopping !== undefined) void this.shutdown();
    else this.watchHealth();
    const exit = await this.env.executor.wait(this.task.id);
    this.monitor?.stop();
    if (this.unhealthy !== undefined) {
      this.set(status(TaskState.TASK_STATE_FAILED, 'failed', `unhealthy: ${this.unhealthy}`, exit.exitCode));
    } else if (this.stopping !== undefined) {
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
  }

  private fail(err: unknown): void {
    const message = errorMessage(err);
    const state = err instanceof RejectedError ? TaskState.TASK_STATE_REJECTED : TaskState.TASK_STATE_FAILED;
    this.set(status(state, state === TaskState.TASK_STATE_REJECTED ? 'rejected' : 'failed', message));
  }

  private watchHealth(): void {
    // The service's own healthcheck wins (`test: [NONE]` turns the image's off), as in Compose.
    const check = this.task.spec?.healthcheck ?? this.env.executor.imageHealthcheck?.(this.task.id);
    const probe = probeFor(check, {
      taskId: this.task.id,
      executor: this.env.executor,
      address: () => this.env.address(this.task),
    });
    if (!check || !probe) return;
    this.monitor = new HealthMonitor({ timing: healthTiming(check), probe, onChange: (h) => this.onHealth(h) });
    this.monitor.start();
  }

  private onHealth(h: HealthState): void {
    if (this.stopping !== undefined || this.unhealthy !== undefined) return;
    this.amend(TaskState.TASK_STATE_RUNNING, { health: h.health, healthOutput: h.output });
    if (h.health !== TaskHealth.TASK_HEALTH_UNHEALTHY) return;
    // Stopped like any stop (its signal, then the grace period); reported failed once it has ended.
    this.unhealthy = h.output || 'the healthcheck failed';
    void this.shutdown();
  }

  /** Progress of prepare() (an image pull) in the PREPARING status message: the latest, at most every interval. */
  private progressReporter(): { report: Progress; stop(): void } {
    const every = this.env.progressIntervalMs;
    let sentAt = Number.NEGATIVE_INFINITY;
    let latest: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const send = () => {
      timer = undefined;
      if (stopped || latest === undefined) return;
      sentAt = Date.now();
      this.amend(TaskState.TASK_STATE_PREPARING, { message: latest });
      latest = undefined;
    };
    return {
      report: (message) => {
        if (stopped) return;
        latest = message;
        const wait = sentAt + every - Date.now();
        if (wait <= 0) send();
        else timer ??= setTimeout(send, wait);
      },
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }
}
