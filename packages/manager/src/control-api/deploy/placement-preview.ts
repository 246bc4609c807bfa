import {
  isGlobalMode,
  type Node,
  nodeEligible,
  type Service,
  type Task,
  TaskState,
  taskOccupiesNode,
  taskPending,
} from '@flotilla/api';
import { newTask } from '@flotilla/orchestrator';
import { type PlacementResult, placeTasks, type Strategy } from '@flotilla/scheduler';

/** Where one service's new tasks would go. */
export interface ServicePreview {
  placed: { nodeId: string; hostname: string; tasks: number }[];
  pending: { tasks: number; reason: string }[];
}

export interface PreviewInput {
  nodes: readonly Node[];
  /** Every task in the store. */
  tasks: readonly Task[];
  /** Tasks the deploy would stop (a removed service's, slots above a lower replica count): they free room. */
  stopped: (task: Task) => boolean;
  /** The tasks the deploy would add, as the orchestrator would create them (see newTasks). */
  added: readonly Task[];
  strategy: Strategy;
}

/**
 * Places the tasks a deploy would add on the cluster as it is now, with the scheduler's own pure placement: the
 * tasks already on nodes hold their resources and ports, and tasks already pending compete as they would in the
 * scheduler's next round. Seeded, so the same cluster gives the same preview. Pure.
 */
export function previewPlacement(input: PreviewInput): Map<string, ServicePreview> {
  const kept = input.tasks.filter((t) => !input.stopped(t));
  const running = kept.filter((t) => t.nodeId && taskOccupiesNode(t));
  const sidecars = input.added.filter((t) => t.sidecar);
  const result = placeTasks({
    nodes: [...input.nodes],
    running,
    pending: [...kept.filter(taskPending), ...input.added.filter((t) => !t.sidecar)],
    strategy: input.strategy,
    seed: 0,
  });
  if (sidecars.length > 0) besideMains(input, sidecars, running, result);
  const added = new Map(input.added.map((t) => [t.id, t]));
  const hostnames = new Map(input.nodes.map((n) => [n.id, n.description?.hostname || n.id]));
  const previews = new Map<string, ServicePreview>();
  const previewOf = (serviceId: string) => {
    let preview = previews.get(serviceId);
    if (!preview) {
      preview = { placed: [], pending: [] };
      previews.set(serviceId, preview);
    }
    return preview;
  };
  for (const { taskId, nodeId } of result.assigned) {
    const task = added.get(taskId);
    if (!task) continue;
    const hostname = hostnames.get(nodeId) ?? nodeId;
    countOne(previewOf(task.serviceId).placed, (p) => p.nodeId === nodeId, { nodeId, hostname });
  }
  for (const { taskId, message } of result.unplaced) {
    const task = added.get(taskId);
    if (task) countOne(previewOf(task.serviceId).pending, (p) => p.reason === message, { reason: message });
  }
  for (const preview of previews.values()) {
    preview.placed.sort((a, b) => b.tasks - a.tasks || a.hostname.localeCompare(b.hostname));
  }
  return previews;
}

/**
 * Sidecars go beside the main task of their slot (or node), as the orchestrator pins them: where the preview just
 * placed it, or where it runs now; a second placement checks the sidecars' own filters on those nodes.
 */
function besideMains(input: PreviewInput, sidecars: Task[], running: Task[], result: PlacementResult): void {
  const placedAt = new Map(result.assigned.map((a) => [a.taskId, a.nodeId]));
  const mains = [
    ...input.added.flatMap((t) => (placedAt.has(t.id) ? [{ ...t, nodeId: placedAt.get(t.id) as string }] : [])),
    ...running,
  ];
  const pinned: Task[] = [];
  for (const t of sidecars) {
    const main = mains.find(
      (m) => m.serviceName === t.sidecar?.service && m.slot === t.slot && (t.slot !== 0n || m.nodeId === t.nodeId),
    );
    if (main) pinned.push({ ...t, nodeId: main.nodeId, mainTaskId: main.id });
    else result.unplaced.push({ taskId: t.id, message: `waits for a task of ${t.sidecar?.service} to run beside` });
  }
  const justPlaced = input.added
    .filter((t) => placedAt.has(t.id))
    .map((t) => ({
      ...t,
      nodeId: placedAt.get(t.id) as string,
      status: { state: TaskState.TASK_STATE_ASSIGNED, timestampMs: 0n, message: '', error: '', exitCode: 0 },
    }));
  const second = placeTasks({
    nodes: [...input.nodes],
    running: [...running, ...justPlaced],
    pending: pinned,
    strategy: input.strategy,
    seed: 0,
  });
  result.assigned.push(...second.assigned);
  result.unplaced.push(...second.unplaced);
}

/** One more task in the entry that `same` finds, or in a new one. */
function countOne<T extends { tasks: number }>(entries: T[], same: (entry: T) => boolean, fresh: Omit<T, 'tasks'>) {
  const entry = entries.find(same);
  if (entry) entry.tasks++;
  else entries.push({ ...fresh, tasks: 1 } as T);
}

/**
 * The tasks the orchestrator would create for `service` beyond what it runs now: replicated slots `from`+1 to
 * its replica count, or, for a global service with no tasks yet, one pinned to every node that takes its tasks
 * (ready, active, meets the constraints).
 */
export function newTasks(service: Service, from: bigint, nodes: readonly Node[]): Task[] {
  if (isGlobalMode(service.spec?.mode)) {
    return nodes.filter((n) => nodeEligible(n, service.spec?.placement)).map((n) => previewTask(service, 0n, n.id));
  }
  const out: Task[] = [];
  for (let slot = from + 1n; slot <= (service.spec?.replicas ?? 0n); slot++) out.push(previewTask(service, slot));
  return out;
}

/** A task as the orchestrator's task factory makes it; its ID (never stored) says what it previews. */
function previewTask(service: Service, slot: bigint, nodeId = ''): Task {
  const task = newTask(service, { now: 0, newId: () => `preview/${service.id}/${slot}/${nodeId}` }, { slot, nodeId });
  return service.spec?.sidecar ? { ...task, sidecar: service.spec.sidecar } : task;
}
