import {
  type Node,
  NodeSpec_Availability,
  NodeStatus_State,
  type Service,
  type Task,
  TaskState,
  taskEnded,
  taskHandedToNode,
} from '@flotilla/api';
import type { DependencyState } from './dependencies.js';

/** What a reconcile decided: tasks to create, tasks to write back changed, tasks to delete, and when to look again. */
export interface Plan {
  create: Task[];
  update: Task[];
  remove: string[];
  /** Services to write back (rolling-update progress, a rollback). */
  services: Service[];
  /** The earliest time something becomes due (a restart delay ending), if any. */
  wakeAt?: number;
}

export interface ReconcileContext {
  now: number;
  nodes: ReadonlyMap<string, Node>;
  /** Ended tasks kept per slot (or per node for global services). */
  historyLimit: number;
  newId: () => string;
  /** What another service's tasks show, by its qualified name (for depends_on); absent: no dependency waits. */
  dependency?: (qualifiedName: string) => DependencyState;
  /** The sidecar services that run beside a service, by its qualified name (rebalancing moves pairs together). */
  sidecarsOf?: (qualifiedName: string) => Service[];
}

export function emptyPlan(): Plan {
  return { create: [], update: [], remove: [], services: [] };
}

export function merge(into: Plan, from: Plan): void {
  into.create.push(...from.create);
  into.update.push(...from.update);
  into.remove.push(...from.remove);
  into.services.push(...from.services);
  if (from.wakeAt !== undefined) into.wakeAt = Math.min(into.wakeAt ?? Number.POSITIVE_INFINITY, from.wakeAt);
}

/**
 * Nothing the task's node runs can be relied on: the node was removed, marked down, or drained while unknown (the
 * operator's word that it is gone).
 */
export function nodeLost(task: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (!task.nodeId) return false;
  const node = nodes.get(task.nodeId);
  if (!node) return true;
  const state = node.status?.state;
  return state === NodeStatus_State.STATE_DOWN || (state === NodeStatus_State.STATE_UNKNOWN && drained(node));
}

/**
 * The task's node may still run it, and it is neither replaced nor moved until the node is back, drained or
 * removed: the node is unknown (the leader heard too few voters to know it is gone), or down while the task's
 * service said `replace: false` (a stateful service waits for its node).
 */
export function nodeHolds(task: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (!taskHandedToNode(task)) return false;
  const node = nodes.get(task.nodeId);
  if (!node || drained(node)) return false;
  const state = node.status?.state;
  return (
    state === NodeStatus_State.STATE_UNKNOWN ||
    (state === NodeStatus_State.STATE_DOWN && task.disconnect?.replace === false)
  );
}

function drained(node: Node): boolean {
  return node.spec?.availability === NodeSpec_Availability.AVAILABILITY_DRAIN;
}

/**
 * Asks a task to stop. One that no node will ever report on (never assigned, or its node is lost) is given its
 * final state here: shutdown, or orphaned when its node is lost.
 */
export function stop(
  task: Task,
  ctx: ReconcileContext,
  message: string,
  desired = TaskState.TASK_STATE_SHUTDOWN,
): Task {
  const now = BigInt(ctx.now);
  const next: Task = { ...task, desiredState: desired, updatedAtMs: now };
  // Never handed to a node (unplaced, or still waiting for addresses): nothing runs, it ends here.
  const handedOver = taskHandedToNode(task);
  if (!handedOver && !taskEnded(task)) {
    next.status = { state: TaskState.TASK_STATE_SHUTDOWN, timestampMs: now, message, error: '', exitCode: 0 };
  } else if (nodeLost(task, ctx.nodes) && !taskEnded(task)) {
    next.status = { state: TaskState.TASK_STATE_ORPHANED, timestampMs: now, message, error: '', exitCode: 0 };
  }
  return next;
}

/** Tasks sorted oldest first (creation time, then ID for a stable order). */
export function byAge(tasks: Task[]): Task[] {
  return [...tasks].sort((a, b) =>
    a.createdAtMs === b.createdAtMs ? a.id.localeCompare(b.id) : a.createdAtMs < b.createdAtMs ? -1 : 1,
  );
}

export function serviceName(service: Service): string {
  return service.spec?.annotations?.name ?? service.id;
}
