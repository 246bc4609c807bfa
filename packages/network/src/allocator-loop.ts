import { newId } from '@flotilla/api';
import { Debounce, type Informer, LoopInformers, type Store } from '@flotilla/store';
import { planAllocations } from './allocator.js';
import type { Pools } from './pools.js';

export interface AllocatorLoopOptions {
  pools?: Pools;
  /** Told of each pass that wrote something or failed (for logs and metrics). */
  onPass?: (pass: { writes: number; problems: string[]; ms: number; error?: string }) => void;
  /**
   * Informers shared with the leader's other loops. This loop starts them if need be; whoever made them stops
   * them.
   */
  informers?: {
    tasks?: Informer<'tasks'>;
    nodes?: Informer<'nodes'>;
    services?: Informer<'services'>;
    networks?: Informer<'networks'>;
    allocations?: Informer<'allocations'>;
  };
}

/**
 * The allocator's loop on the leader: after each burst of changes to networks, services, tasks, nodes or
 * allocations, one pass of `planAllocations` over the informers' caches, written in one batch whose creates and
 * version checks make a lost race a conflict (retried on fresh state), never a value given twice. Everything it
 * knows is in etcd, so a new leader carries on where the last one stopped.
 */
export class AllocatorLoop {
  readonly tasks: Informer<'tasks'>;
  readonly nodes: Informer<'nodes'>;
  readonly services: Informer<'services'>;
  readonly networks: Informer<'networks'>;
  readonly allocations: Informer<'allocations'>;
  private readonly debounce: Debounce;
  private readonly cursors = new Map<string, number>();
  private readonly informers: LoopInformers;

  constructor(
    private readonly store: Store,
    private readonly options: AllocatorLoopOptions = {},
  ) {
    this.informers = new LoopInformers(store);
    const shared = options.informers ?? {};
    this.tasks = this.informers.use('tasks', shared.tasks);
    this.nodes = this.informers.use('nodes', shared.nodes);
    this.services = this.informers.use('services', shared.services);
    this.networks = this.informers.use('networks', shared.networks);
    this.allocations = this.informers.use('allocations', shared.allocations);
    this.debounce = new Debounce(() => this.pass(), {
      held: true,
      onError: (err) => this.options.onPass?.({ writes: 0, problems: [], ms: 0, error: String(err) }),
    });
    const poke = () => this.debounce.poke();
    for (const informer of [this.tasks, this.nodes, this.services, this.networks, this.allocations]) {
      (informer as Informer<'tasks'>).subscribe(poke);
    }
  }

  async start(): Promise<void> {
    await Promise.all([
      this.tasks.start(),
      this.nodes.start(),
      this.services.start(),
      this.networks.start(),
      this.allocations.start(),
    ]);
    this.debounce.release();
    this.debounce.poke();
  }

  async stop(): Promise<void> {
    await this.debounce.stop();
    await this.informers.stop();
  }

  private async pass(): Promise<void> {
    const started = performance.now();
    let plan: ReturnType<typeof planAllocations>;
    try {
      plan = planAllocations(
        {
          networks: this.networks.list(),
          services: this.services.list(),
          tasks: this.tasks.list(),
          nodes: this.nodes.list(),
          allocations: this.allocations.list(),
        },
        {
          now: BigInt(Date.now()),
          newId,
          cursors: this.cursors,
          ...(this.options.pools ? { pools: this.options.pools } : {}),
        },
      );
    } catch (err) {
      // A bug or a value nobody checked must not stop allocation silently: said, and tried again later.
      this.options.onPass?.({
        writes: 0,
        problems: [],
        ms: performance.now() - started,
        error: (err as Error).message,
      });
      this.debounce.wakeAt(Date.now() + 1_000);
      return;
    }
    if (plan.writes.length === 0) return;
    try {
      // Transactions commit in order: the revision of the last one holding a write of each kind is what that
      // kind's cache must reach before the next pass, or it would allocate the same objects again.
      const reached = new Map<string, bigint>();
      let done = 0;
      await this.store.batch(plan.writes, {
        onCommit: (revision, count) => {
          for (const w of plan.writes.slice(done, done + count)) reached.set(w.kind, revision);
          done += count;
        },
      });
      const informers = {
        tasks: this.tasks,
        nodes: this.nodes,
        services: this.services,
        networks: this.networks,
        allocations: this.allocations,
      } as unknown as Record<string, Informer<'tasks'>>;
      await Promise.all([...reached].map(([kind, revision]) => informers[kind]?.caughtUp(revision)));
      this.options.onPass?.({ writes: plan.writes.length, problems: plan.problems, ms: performance.now() - started });
    } catch (err) {
      // Some transactions may have landed: the next pass should see them. Not waited for long: a cache that
      // lags only makes the next pass's creates conflict again (every value is a create-if-absent), never twice.
      const revision = await this.store.client
        .get('\u0000')
        .exec()
        .then((r) => BigInt(r.header.revision))
        // etcd away as well: no revision to wait for; err, reported below, says what failed.
        .catch(() => 0n);
      if (revision > 0n) {
        await Promise.all(
          [this.tasks, this.nodes, this.services, this.networks, this.allocations].map((i) =>
            (i as Informer<'tasks'>).caughtUp(revision, 300),
          ),
        );
      }
      this.options.onPass?.({
        writes: plan.writes.length,
        problems: plan.problems,
        ms: performance.now() - started,
        error: (err as Error).message,
      });
      this.debounce.wakeAt(Date.now() + 200);
    }
  }
}
