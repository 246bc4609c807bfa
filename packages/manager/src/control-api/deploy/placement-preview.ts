import {
  isGlobalMode,
  type Node,
  nodeEligible,
  type Service,
  type Task,
  taskOccupiesNode,
  taskPending,
} from '@flotilla/api';
import { newTask } from '@flotilla/orchestrator';
import { placeTasks, type Strategy } from '@flotilla/scheduler';

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
  const result = placeTasks({
    nodes: [...input.nodes],
    running: kept.filter((t) => t.nodeId && taskOccupiesNode(t)),
    pending: [...kept.filter(taskPending), ...input.added],
    strategy: input.strategy,
    seed: 0,
  });
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
  return newTask(service, { now: 0, newId: () => `preview/${service.id}/${slot}/${nodeId}` }, { slot, nodeId });
}
