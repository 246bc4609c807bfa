import {
  isJobMode,
  jobLimits,
  jobProgress,
  type ManagerView,
  type Node,
  type Service,
  ServiceMode,
  type Task,
  TaskState,
  type WatchChange,
  type WatchSnapshot,
} from '@flotilla/api';
import type { Change, Resources, UiNode, UiService, UiTask } from '../model.js';
import {
  lastChange,
  modeWord,
  portsWord,
  revisions,
  serviceName,
  taskReservation,
  uiNode,
  uiTask,
  updateStateWord,
} from './convert.js';

/** What one flush changed, per kind: the page's `node`, `service` and `task` messages. */
export interface Changes {
  nodes: Change<UiNode>[];
  services: Change<UiService>[];
  tasks: Change<UiTask>[];
}

/**
 * The cluster as the last Watch snapshot and its changes left it, with the page's view of each object kept beside.
 * A change marks what it touches dirty (a task: itself, its service and its nodes); `flush()` converts only those,
 * so a change in a 10,000-task cluster costs the objects it touches, not the whole picture.
 */
export class ClusterState {
  private readonly nodes = new Map<string, Node>();
  private readonly services = new Map<string, Service>();
  private readonly tasks = new Map<string, Task>();
  private readonly tasksOfService = new Map<string, Set<string>>();
  private readonly tasksOfNode = new Map<string, Set<string>>();
  private managers: ManagerView[] = [];
  private readonly ui = {
    nodes: new Map<string, UiNode>(),
    services: new Map<string, UiService>(),
    tasks: new Map<string, UiTask>(),
  };
  private readonly dirty = { nodes: new Set<string>(), services: new Set<string>(), tasks: new Set<string>() };

  /** Replaces everything with a snapshot (its parts joined), and converts it all. */
  reset(snapshot: Pick<WatchSnapshot, 'nodes' | 'services' | 'tasks'>): void {
    for (const map of [this.nodes, this.services, this.tasks, this.tasksOfService, this.tasksOfNode]) map.clear();
    for (const n of snapshot.nodes) this.nodes.set(n.id, n);
    for (const s of snapshot.services) this.services.set(s.id, s);
    for (const t of snapshot.tasks) this.putTask(t);
    for (const set of Object.values(this.dirty)) set.clear();
    this.ui.nodes.clear();
    this.ui.services.clear();
    this.ui.tasks.clear();
    for (const id of this.nodes.keys()) this.dirty.nodes.add(id);
    for (const id of this.services.keys()) this.dirty.services.add(id);
    for (const id of this.tasks.keys()) this.dirty.tasks.add(id);
    this.flush();
  }

  apply(change: WatchChange): void {
    const { id } = change;
    if (change.kind === 'nodes') {
      if (change.node) this.nodes.set(id, change.node);
      else this.nodes.delete(id);
      this.dirty.nodes.add(id);
    } else if (change.kind === 'services') {
      const before = this.services.get(id);
      if (change.service) this.services.set(id, change.service);
      else this.services.delete(id);
      this.dirty.services.add(id);
      // A sidecar's desired count is its main service's replicas.
      const name = change.service ?? before;
      if (name) this.markSidecarsOf(serviceName(name));
    } else if (change.kind === 'tasks') {
      const before = this.tasks.get(id);
      if (before) this.dropTask(before);
      if (change.task) this.putTask(change.task);
      this.dirty.tasks.add(id);
    }
  }

  /** The managers as `ListNodes` last told them (who leads, who answers). */
  setManagers(managers: ManagerView[]): void {
    this.managers = managers;
    for (const m of managers) if (m.manager?.nodeId) this.dirty.nodes.add(m.manager.nodeId);
  }

  get pending(): boolean {
    return this.dirty.nodes.size + this.dirty.services.size + this.dirty.tasks.size > 0;
  }

  /** Converts what changed since the last flush; returns it as the page's change messages. */
  flush(): Changes {
    const out: Changes = { nodes: [], services: [], tasks: [] };
    for (const id of this.dirty.tasks) {
      const t = this.tasks.get(id);
      out.tasks.push(t ? { op: 'put', object: this.keep(this.ui.tasks, uiTask(t)) } : this.drop(this.ui.tasks, id));
    }
    for (const id of this.dirty.services) {
      const s = this.services.get(id);
      out.services.push(
        s ? { op: 'put', object: this.keep(this.ui.services, this.uiService(s)) } : this.drop(this.ui.services, id),
      );
    }
    const managerOf = new Map(this.managers.filter((m) => m.manager?.nodeId).map((m) => [m.manager?.nodeId, m]));
    for (const id of this.dirty.nodes) {
      const n = this.nodes.get(id);
      out.nodes.push(
        n
          ? { op: 'put', object: this.keep(this.ui.nodes, uiNode(n, managerOf.get(id), this.reserved(id))) }
          : this.drop(this.ui.nodes, id),
      );
    }
    for (const set of Object.values(this.dirty)) set.clear();
    return out;
  }

  /** The page's view of everything, as of the last flush. */
  view(): { nodes: UiNode[]; services: UiService[]; tasks: UiTask[] } {
    return {
      nodes: [...this.ui.nodes.values()],
      services: [...this.ui.services.values()],
      tasks: [...this.ui.tasks.values()],
    };
  }

  managerViews(): ManagerView[] {
    return this.managers;
  }

  task(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  /** Running tasks per service ID (the chart's sample). */
  running(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const id of this.services.keys()) out[id] = 0;
    for (const t of this.tasks.values()) {
      if (t.status?.state === TaskState.TASK_STATE_RUNNING && t.desiredState <= TaskState.TASK_STATE_RUNNING) {
        out[t.serviceId] = (out[t.serviceId] ?? 0) + 1;
      }
    }
    return out;
  }

  private keep<T extends { id: string }>(map: Map<string, T>, object: T): T {
    map.set(object.id, object);
    return object;
  }

  private drop<T>(map: Map<string, T>, id: string): Change<never> {
    map.delete(id);
    return { op: 'delete', id };
  }

  private putTask(t: Task): void {
    this.tasks.set(t.id, t);
    index(this.tasksOfService, t.serviceId).add(t.id);
    if (t.nodeId) index(this.tasksOfNode, t.nodeId).add(t.id);
    this.dirty.services.add(t.serviceId);
    if (t.nodeId) this.dirty.nodes.add(t.nodeId);
  }

  private dropTask(t: Task): void {
    this.tasks.delete(t.id);
    this.tasksOfService.get(t.serviceId)?.delete(t.id);
    this.tasksOfNode.get(t.nodeId)?.delete(t.id);
    this.dirty.services.add(t.serviceId);
    if (t.nodeId) this.dirty.nodes.add(t.nodeId);
  }

  private markSidecarsOf(name: string): void {
    for (const s of this.services.values()) if (s.spec?.sidecar?.service === name) this.dirty.services.add(s.id);
  }

  private tasksOf(map: Map<string, Set<string>>, id: string): Task[] {
    const out: Task[] = [];
    for (const taskId of map.get(id) ?? []) {
      const t = this.tasks.get(taskId);
      if (t) out.push(t);
    }
    return out;
  }

  /** What the tasks the node is meant to run reserve there. */
  private reserved(nodeId: string): Resources {
    const sum = { nanoCpus: 0, memoryBytes: 0 };
    for (const t of this.tasksOf(this.tasksOfNode, nodeId)) {
      if (t.desiredState > TaskState.TASK_STATE_RUNNING) continue;
      const r = taskReservation(t);
      sum.nanoCpus += r.nanoCpus;
      sum.memoryBytes += r.memoryBytes;
    }
    return sum;
  }

  /** A service's row: counts as `service ls` computes them, and where its update stands. */
  private uiService(s: Service): UiService {
    const own = this.tasksOf(this.tasksOfService, s.id);
    const spec = s.spec;
    const mode = spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED;
    const global = mode === ServiceMode.SERVICE_MODE_GLOBAL || mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
    const meant = own.filter((t) => t.desiredState <= TaskState.TASK_STATE_RUNNING);
    const runningTasks = meant.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
    let counts = { running: runningTasks.length, desired: 0, completed: 0, completions: 0 };
    if (isJobMode(mode)) {
      const progress = jobProgress(s, own);
      counts = {
        running: progress.running,
        desired: global ? progress.total : Number(jobLimits(spec).maxConcurrent),
        completed: progress.completed,
        completions: progress.total,
      };
    } else if (global) {
      counts.desired = new Set(meant.map((t) => t.nodeId)).size;
    } else {
      counts.desired = Number(this.mainOf(s).spec?.replicas ?? 0n);
    }
    const update = s.updateStatus;
    const updateVersion = update?.specVersion ?? s.specVersion;
    // Older versions whose tasks run what the current one runs count as done (a rollback keeps them).
    const sameAs = updateVersion === s.specVersion ? new Set(s.sameTaskSpecVersions) : new Set<bigint>();
    const done = new Set(
      runningTasks
        .filter((t) => t.specVersion === updateVersion || sameAs.has(t.specVersion))
        .map((t) => (t.slot === 0n ? t.nodeId : String(t.slot))),
    );
    return {
      id: s.id,
      name: serviceName(s),
      stack: spec?.stack ?? '',
      mode: modeWord(mode),
      image: spec?.container?.image ?? '',
      ...counts,
      ports: portsWord(s.endpointPorts.length ? s.endpointPorts : (spec?.endpoint?.ports ?? [])),
      specVersion: Number(s.specVersion),
      update: {
        state: updateStateWord(update?.state),
        message: update?.message ?? '',
        startedAt: Number(update?.startedAtMs ?? 0n),
        completedAt: Number(update?.completedAtMs ?? 0n),
        specVersion: Number(updateVersion),
        slotsDone: done.size,
        slotsTotal: counts.desired,
        parallelism: Number(spec?.updateConfig?.parallelism ?? 1n),
      },
      revisions: revisions(s),
      lastChange: lastChange(s.previousSpec, spec),
      updatedAt: Number(s.updatedAtMs),
    };
  }

  /** A sidecar runs as many tasks as its main service. */
  private mainOf(s: Service): Service {
    const main = s.spec?.sidecar?.service;
    if (!main) return s;
    for (const other of this.services.values()) if (serviceName(other) === main) return other;
    return s;
  }
}

function index(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
