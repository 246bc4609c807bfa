import { ClusterSettings_Strategy, type Task, TaskState, taskOccupiesNode, taskPending } from '@flotilla/api';
import { CLUSTER_KEY, Debounce, type Informer, LoopInformers, type Store, type Write } from '@flotilla/store';
import { ClusterSnapshot } from './cluster-snapshot.js';

export interface SchedulerLoopOptions {
  /** Told of each round (for logs and metrics). */
  onRound?: (round: { pending: number; assigned: number; unplaced: number; ms: number; error?: string }) => void;
  seed?: number;
  /**
   * Informers shared with the leader's other loops (one watch and one decode per change, not one per loop). This
   * loop starts them if need be; whoever made them stops them.
   */
  informers?: { tasks?: Informer<'tasks'>; nodes?: Informer<'nodes'>; clusters?: Informer<'clusters'> };
}

/**
 * The scheduler's loop on the leader. A cluster snapshot follows the store through informers (nodes, and tasks
 * that hold resources on them); after each burst of changes, every pending task is placed on it and the
 * assignments are committed in store batches with compare-and-swap, so a task that changed meanwhile is decided
 * again. A task that fits nowhere keeps its explanation in its status message and is placed as soon as a node
 * or a task changes in a way that could make room.
 */
export class SchedulerLoop {
  readonly tasks: Informer<'tasks'>;
  readonly nodes: Informer<'nodes'>;
  readonly clusters: Informer<'clusters'>;
  private readonly debounce: Debounce;
  private readonly snapshot = new ClusterSnapshot();
  private readonly pending = new Map<string, Task>();
  private round = 0;
  private readonly informers: LoopInformers;

  constructor(
    private readonly store: Store,
    private readonly options: SchedulerLoopOptions = {},
  ) {
    this.informers = new LoopInformers(store);
    this.tasks = this.informers.use('tasks', options.informers?.tasks);
    this.nodes = this.informers.use('nodes', options.informers?.nodes);
    this.clusters = this.informers.use('clusters', options.informers?.clusters);
    this.debounce = new Debounce(() => this.place(), {
      held: true,
      onError: (err) =>
        this.options.onRound?.({ pending: this.pending.size, assigned: 0, unplaced: 0, ms: 0, error: String(err) }),
    });
    this.tasks.subscribe((set) => {
      let wake = false;
      for (const c of set.changes) {
        if (c.type === 'delete') {
          this.snapshot.removeTask(c.id);
          this.pending.delete(c.id);
          if (c.previous && taskOccupiesNode(c.previous)) wake = true;
          continue;
        }
        // track() must run for every change, whatever came before.
        const waiting = this.track(c.value);
        const freed = !!c.previous && taskOccupiesNode(c.previous) && !taskOccupiesNode(c.value);
        if (waiting || freed) wake = true;
      }
      if (wake) this.debounce.poke();
    });
    this.nodes.subscribe((set) => {
      for (const c of set.changes) {
        if (c.type === 'delete') this.snapshot.removeNode(c.id);
        else this.snapshot.upsertNode(c.value);
      }
      this.debounce.poke();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.tasks.start(), this.nodes.start(), this.clusters.start()]);
    for (const { value } of this.nodes.list()) this.snapshot.upsertNode(value);
    for (const { value } of this.tasks.list()) this.track(value);
    this.debounce.release();
    this.debounce.poke();
  }

  async stop(): Promise<void> {
    await this.debounce.stop();
    await this.informers.stop();
  }

  /** Keeps the snapshot and the pending set in step with one task; true if it is waiting for placement. */
  private track(task: Task): boolean {
    if (task.nodeId && taskOccupiesNode(task)) this.snapshot.addTask(task);
    else this.snapshot.removeTask(task.id);
    if (taskPending(task)) this.pending.set(task.id, task);
    else this.pending.delete(task.id);
    return taskPending(task);
  }

  private async place(): Promise<void> {
    if (this.pending.size === 0) return;
    const started = performance.now();
    const pending = [...this.pending.values()];
    const settings = this.clusters.get(CLUSTER_KEY)?.value.settings;
    const result = this.snapshot.place(pending, {
      strategy: settings?.placementStrategy === ClusterSettings_Strategy.STRATEGY_BINPACK ? 'binpack' : 'spread',
      seed: (this.options.seed ?? 0) + this.round++,
    });
    const now = BigInt(Date.now());
    const writes: Write[] = [];
    const write = (id: string, change: (t: Task) => Task) => {
      const current = this.tasks.get(id);
      if (current) {
        writes.push({ op: 'update', kind: 'tasks', id, value: change(current.value), version: current.version });
      }
    };
    for (const { taskId, nodeId } of result.assigned) {
      this.pending.delete(taskId);
      write(taskId, (t) => ({
        ...t,
        nodeId,
        status: { state: TaskState.TASK_STATE_ASSIGNED, timestampMs: now, message: 'assigned', error: '', exitCode: 0 },
        updatedAtMs: now,
      }));
    }
    for (const { taskId, message } of result.unplaced) {
      // Only a new explanation is written: an unchanged one would wake every watcher for nothing.
      if (this.tasks.get(taskId)?.value.status?.message === message) continue;
      write(taskId, (t) => ({
        ...t,
        status: { state: TaskState.TASK_STATE_PENDING, timestampMs: now, message, error: '', exitCode: 0 },
        updatedAtMs: now,
      }));
    }
    const summary = { pending: pending.length, assigned: result.assigned.length, unplaced: result.unplaced.length };
    if (writes.length === 0) return;
    try {
      const { revision } = await this.store.batch(writes, { inFlight: 16 });
      await this.tasks.caughtUp(revision);
      this.options.onRound?.({ ...summary, ms: performance.now() - started });
    } catch (err) {
      // Some writes may not have landed: the snapshot and the pending set go back to what the store holds.
      for (const { taskId } of result.assigned) {
        const current = this.tasks.get(taskId);
        if (current) this.track(current.value);
        else this.snapshot.removeTask(taskId);
      }
      this.options.onRound?.({ ...summary, ms: performance.now() - started, error: (err as Error).message });
      this.debounce.wakeAt(Date.now() + 200);
    }
  }
}
