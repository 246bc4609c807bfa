import {
  type Node,
  NodeStatus_State,
  newId,
  type Service,
  ServiceMode,
  type Task,
  TaskState,
  taskEnded,
} from '@flotilla/api';
import { Debounce, type Informer, LoopInformers, type Store, type Write } from '@flotilla/store';
import { dependencyState } from './dependencies.js';
import { reconcileGlobal } from './global.js';
import { reconcileGlobalJob, reconcileReplicatedJob } from './job.js';
import { emptyPlan, merge, nodeLost, type Plan, type ReconcileContext, serviceName, stop } from './plan.js';
import { rebalanceStep } from './rebalance.js';
import { reconcileReplicated } from './replicated.js';
import { reconcileSidecar } from './sidecar.js';
import { TasksByService } from './tasks-by-service.js';

export interface OrchestratorOptions {
  /** Ended tasks kept per slot (the cluster's task history limit). */
  historyLimit?: number;
  now?: () => number;
  /**
   * Even out services' spread when a node joins or comes back (the cluster setting; default on): a value, or a
   * function asked each time a node arrives, so that `cluster update --rebalance` applies at once.
   */
  rebalanceOnJoin?: boolean | (() => boolean);
  /**
   * Informers shared with the leader's other loops (one watch and one decode per change, not one per loop). This
   * loop starts them if need be; whoever made them stops them.
   */
  informers?: { tasks?: Informer<'tasks'>; nodes?: Informer<'nodes'>; services?: Informer<'services'> };
  /** Told of each round's outcome (for logs and metrics). */
  onRound?: (round: { services: number; created: number; updated: number; removed: number; error?: string }) => void;
}

/**
 * The orchestrators' loop on the leader: watches services, tasks and nodes, and after each burst of changes
 * reconciles the services they touch (replicated and global), then commits the decisions in store batches with
 * compare-and-swap. It waits to see its own writes before deciding again, so it never acts twice on one state;
 * a write that lost a race is simply decided again from the newer state.
 */
export class Orchestrator {
  readonly services: Informer<'services'>;
  readonly tasks: Informer<'tasks'>;
  readonly nodes: Informer<'nodes'>;
  private readonly debounce: Debounce;
  /** The tasks informer's cache by service, so a round reads only the services it decides on. */
  private readonly byService = new TasksByService();
  private readonly dirty = new Set<string>();
  /** Services waiting for a time (a restart delay), and when. */
  private readonly wakeups = new Map<string, number>();
  private allDirty = true;
  /** Services being rebalanced, one move at a time (in memory: a new leader starts with none). */
  private readonly rebalancing = new Set<string>();
  private readonly now: () => number;
  private readonly informers: LoopInformers;

  constructor(
    private readonly store: Store,
    private readonly options: OrchestratorOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.informers = new LoopInformers(store);
    this.services = this.informers.use('services', options.informers?.services);
    this.tasks = this.informers.use('tasks', options.informers?.tasks);
    this.nodes = this.informers.use('nodes', options.informers?.nodes);
    this.debounce = new Debounce(() => this.round(), {
      held: true,
      onError: (err) => this.options.onRound?.({ services: 0, created: 0, updated: 0, removed: 0, error: String(err) }),
    });
    this.services.subscribe((set) => {
      for (const c of set.changes) {
        this.dirty.add(c.id);
        const asked = c.type === 'put' ? c.value.rebalanceRequestedAtMs : 0n;
        if (asked > (c.previous?.rebalanceRequestedAtMs ?? 0n)) this.rebalancing.add(c.id);
      }
      this.debounce.poke();
    });
    this.tasks.subscribe((set) => {
      for (const c of set.changes) {
        this.byService.apply(c);
        const serviceId = c.type === 'put' ? c.value.serviceId : c.previous?.serviceId;
        // Only changes that can matter: an observed state reached, or anything but a status message.
        if (serviceId && (c.type === 'delete' || statusMatters(c.previous, c.value))) {
          this.dirty.add(serviceId);
          // Services waiting on this one (depends_on) may start now.
          for (const id of this.dependents(serviceId)) this.dirty.add(id);
        }
      }
      if (this.dirty.size > 0) this.debounce.poke();
    });
    this.nodes.subscribe((set) => {
      // Node status, availability and labels matter to every service.
      this.allDirty = true;
      const arrived = set.changes.some(
        (c) =>
          c.type === 'put' &&
          c.value.status?.state === NodeStatus_State.STATE_READY &&
          c.previous?.status?.state !== NodeStatus_State.STATE_READY,
      );
      const rebalance = options.rebalanceOnJoin ?? true;
      if (arrived && (typeof rebalance === 'function' ? rebalance() : rebalance)) {
        for (const s of this.services.list()) this.rebalancing.add(s.id);
      }
      this.debounce.poke();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.tasks.start(), this.nodes.start()]);
    // A shared informer may have been started (and have delivered its list) before this loop subscribed.
    this.byService.reset(this.tasks.list().map((t) => t.value));
    this.allDirty = true;
    this.debounce.release();
    this.debounce.poke();
  }

  async stop(): Promise<void> {
    await this.debounce.stop();
    await this.informers.stop();
  }

  /** Resolves when no round is running or waiting (tests). */
  async settled(): Promise<void> {
    await this.debounce.idle();
  }

  private async round(): Promise<void> {
    await this.tasksHoldServicesRevision();
    const all = this.allDirty;
    const dirty = new Set(this.dirty);
    this.allDirty = false;
    this.dirty.clear();
    const now = this.now();
    for (const [id, at] of this.wakeups) {
      if (at > now) continue;
      dirty.add(id);
      this.wakeups.delete(id);
    }
    const byName = new Map(this.services.list().map((s) => [serviceName(s.value), s.value] as [string, Service]));
    const ctx: ReconcileContext = {
      now,
      nodes: new Map(this.nodes.list().map((n) => [n.id, n.value] as [string, Node])),
      historyLimit: this.options.historyLimit ?? 5,
      newId,
      dependency: (name) => {
        const dep = byName.get(name);
        return dependencyState(dep, dep ? this.byService.tasks(dep.id) : []);
      },
      sidecarsOf: (name) => [...byName.values()].filter((s) => s.spec?.sidecar?.service === name),
    };
    const plan = emptyPlan();
    let services = 0;
    for (const id of all ? this.services.list().map((s) => s.id) : dirty) {
      const service = this.services.get(id)?.value;
      if (!service) continue;
      services++;
      const tasks = this.byService.tasks(id);
      const mode = service.spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED;
      const main = service.spec?.sidecar ? byName.get(service.spec.sidecar.service) : undefined;
      const decided = service.spec?.sidecar
        ? reconcileSidecar(service, tasks, main && this.byService.tasks(main.id), ctx)
        : reconcilerOf(mode)(service, tasks, ctx);
      if (decided.wakeAt === undefined) this.wakeups.delete(service.id);
      else this.wakeups.set(service.id, decided.wakeAt);
      merge(plan, decided);
      const converged =
        decided.create.length + decided.update.length + decided.remove.length + decided.services.length === 0;
      if (converged && this.rebalancing.has(service.id)) {
        const step = rebalanceStep(service, tasks, ctx);
        if (step.done) this.rebalancing.delete(service.id);
        merge(plan, step.plan);
      }
    }
    // Tasks of services that were removed.
    for (const id of all ? this.byService.serviceIds() : dirty) {
      if (!this.services.get(id)) merge(plan, removeOrphans(this.byService.tasks(id), ctx));
    }
    if (plan.wakeAt !== undefined) this.debounce.wakeAt(plan.wakeAt, ctx.now);
    const result = { services, created: plan.create.length, updated: plan.update.length, removed: plan.remove.length };
    const writes = this.writes(plan);
    if (writes.length === 0) {
      this.options.onRound?.(result);
      return;
    }
    try {
      const { revision } = await this.store.batch(writes, { inFlight: 16 });
      // Decide again only from what includes these writes: each informer that was written to has seen them (one
      // that was not may never see this revision).
      const kinds = new Set(writes.map((w) => w.kind));
      await Promise.all([
        kinds.has('tasks') ? this.tasks.caughtUp(revision) : undefined,
        kinds.has('services') ? this.services.caughtUp(revision) : undefined,
      ]);
      this.options.onRound?.(result);
    } catch (err) {
      // A lost race (or a lost fence): decide again from whatever the store now holds.
      for (const id of dirty) this.dirty.add(id);
      this.allDirty ||= all;
      this.options.onRound?.({ ...result, error: (err as Error).message });
      this.debounce.wakeAt(this.now() + 200);
    }
  }

  /**
   * Services and tasks come through two watches, so the services cache can be ahead: a round that read a service
   * before the tasks written in the same transaction would create its tasks again (and a new leader's first round
   * likewise, its lists taken at two revisions). A round decides only once the task cache holds everything up to
   * the revision of the services it reads; what it reads after this is read without waiting, so it is one state.
   */
  private async tasksHoldServicesRevision(): Promise<void> {
    for (let tries = 0; tries < 5; tries++) {
      const target = this.services.status().revision;
      if (this.tasks.status().revision >= target) return;
      if (!(await this.tasks.holdsUpTo(target))) return;
      if (this.services.status().revision === target) return;
    }
  }

  /** The services whose depends_on names this one, and its sidecars. */
  private dependents(serviceId: string): string[] {
    const name = this.services.get(serviceId)?.value;
    if (!name) return [];
    const qualified = serviceName(name);
    return this.services
      .list()
      .filter(
        (s) =>
          s.value.spec?.dependsOn.some((d) => d.service === qualified) || s.value.spec?.sidecar?.service === qualified,
      )
      .map((s) => s.id);
  }

  private writes(plan: Plan): Write[] {
    const writes: Write[] = [];
    for (const task of plan.create) writes.push({ op: 'create', kind: 'tasks', id: task.id, value: task });
    for (const task of plan.update) {
      const version = this.tasks.get(task.id)?.version;
      if (version !== undefined) writes.push({ op: 'update', kind: 'tasks', id: task.id, value: task, version });
    }
    for (const service of plan.services) {
      const version = this.services.get(service.id)?.version;
      if (version !== undefined)
        writes.push({ op: 'update', kind: 'services', id: service.id, value: service, version });
    }
    for (const id of new Set(plan.remove)) {
      const version = this.tasks.get(id)?.version;
      if (version !== undefined) writes.push({ op: 'delete', kind: 'tasks', id, version });
    }
    return writes;
  }
}

function reconcilerOf(mode: ServiceMode): (service: Service, tasks: Task[], ctx: ReconcileContext) => Plan {
  switch (mode) {
    case ServiceMode.SERVICE_MODE_GLOBAL:
      return reconcileGlobal;
    case ServiceMode.SERVICE_MODE_REPLICATED_JOB:
      return reconcileReplicatedJob;
    case ServiceMode.SERVICE_MODE_GLOBAL_JOB:
      return reconcileGlobalJob;
    default:
      return reconcileReplicated;
  }
}

/** Tasks of a removed service: stopped where a node must stop them, deleted once nothing runs them. */
function removeOrphans(tasks: Task[], ctx: ReconcileContext): Plan {
  const plan = emptyPlan();
  for (const t of tasks) {
    if (!t.nodeId || taskEnded(t) || nodeLost(t, ctx.nodes)) plan.remove.push(t.id);
    else if (t.desiredState !== TaskState.TASK_STATE_REMOVE) {
      plan.update.push(stop(t, ctx, 'service removed', TaskState.TASK_STATE_REMOVE));
    }
  }
  return plan;
}

function statusMatters(before: Task | undefined, after: Task): boolean {
  if (!before) return true;
  return (
    before.status?.state !== after.status?.state ||
    // Health decides when a start-first replacement serves, and when services that wait for this one start.
    before.status?.health !== after.status?.health ||
    before.desiredState !== after.desiredState ||
    before.nodeId !== after.nodeId
  );
}
