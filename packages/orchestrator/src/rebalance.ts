import {
  executorAllows,
  isJobMode,
  NodeStatus_State,
  nodeEligible,
  type Placement,
  type Service,
  ServiceMode,
  type Task,
  TaskState,
  taskEnded,
  taskLive,
  taskMeantToRun,
  usesFiles,
} from '@flotilla/api';
import { byAge, emptyPlan, type Plan, type ReconcileContext, serviceName, stop } from './plan.js';
import { newTask } from './task-factory.js';

export type RebalanceOutcome = { plan: Plan; done: boolean; reason: string };

/**
 * One step of evening out a replicated service's spread, which Swarm, Nomad and Kubernetes leave to the user:
 * when the busiest eligible node runs more than one task more than the idlest, one task of the busiest moves.
 * The move is start-first: a new task for the same slot is created and placed by the scheduler (spread puts it on
 * a node with fewest tasks of the service), and the old one stops only once the new one runs. One move at a time
 * per service; a move whose new task cannot be placed is called off, and rebalancing stops there.
 */
export function rebalanceStep(service: Service, tasks: Task[], ctx: ReconcileContext): RebalanceOutcome {
  const plan = emptyPlan();
  if (service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL) return { plan, done: true, reason: 'global service' };
  // A job's tasks run to completion: moving one would run its work twice.
  if (isJobMode(service.spec?.mode)) return { plan, done: true, reason: 'job' };
  // A sidecar moves with its main task, never on its own.
  if (service.spec?.sidecar) return { plan, done: true, reason: 'sidecar service' };
  // A task with sidecars moves only to a node where they can follow it: their constraints hold there too.
  const sidecars = ctx.sidecarsOf?.(serviceName(service)) ?? [];
  const pairPlacement = withSidecarConstraints(service.spec?.placement, sidecars);
  const live = tasks.filter(taskLive);
  const bySlot = new Map<bigint, Task[]>();
  for (const t of byAge(live)) bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);

  // A move in progress: wait for it, or call it off if its new task fits nowhere.
  for (const slotTasks of bySlot.values()) {
    if (slotTasks.length < 2) continue;
    const newest = slotTasks.at(-1) as Task;
    if (newest.status?.state === TaskState.TASK_STATE_PENDING && newest.status.message.startsWith('no suitable node')) {
      plan.update.push(stop(newest, ctx, 'rebalance called off: no other node fits'));
      return { plan, done: true, reason: newest.status.message };
    }
    return { plan, done: false, reason: 'a move is in progress' };
  }
  if (live.some((t) => t.status?.state !== TaskState.TASK_STATE_RUNNING)) {
    return { plan, done: false, reason: 'tasks are still starting' };
  }
  if (tasks.some((t) => taskMeantToRun(t) && taskEnded(t))) {
    return { plan, done: false, reason: 'a restart is pending' };
  }

  const placement = pairPlacement;
  const mountsFiles = usesFiles(service.spec?.container);
  const perNode = Number(placement?.maxReplicasPerNode ?? 0n);
  const counts = new Map<string, Task[]>();
  for (const node of ctx.nodes.values()) {
    // Only ready nodes: a node whose state is not known yet is no place to move a running task to. Nor one the
    // scheduler would refuse for its executor (plain processes, not allowed by the service).
    const ready = node.status?.state === NodeStatus_State.STATE_READY;
    if (ready && nodeEligible(node, placement) && executorAllows(node, placement, mountsFiles)) counts.set(node.id, []);
  }
  for (const t of live) counts.get(t.nodeId)?.push(t);
  if (counts.size < 2) return { plan, done: true, reason: 'fewer than two eligible nodes' };
  const sorted = [...counts].sort(([a, x], [b, y]) => x.length - y.length || a.localeCompare(b));
  const [, least] = sorted[0] as [string, Task[]];
  const [, most] = sorted.at(-1) as [string, Task[]];
  if (most.length - least.length <= 1) return { plan, done: true, reason: 'balanced' };
  if (perNode > 0 && least.length >= perNode) return { plan, done: true, reason: 'max_replicas_per_node reached' };

  const moving = [...most].sort((a, b) => (a.slot < b.slot ? 1 : a.slot > b.slot ? -1 : 0))[0] as Task;
  const moved = newTask(
    service,
    ctx,
    { slot: moving.slot },
    { history: moving.restartHistoryMs, consecutiveFailures: moving.consecutiveFailures },
  );
  // The scheduler then places it only where its sidecars fit; if no node does, the move is called off above.
  plan.create.push(sidecars.length > 0 ? { ...moved, placement } : moved);
  return { plan, done: false, reason: `moving slot ${moving.slot} off node ${moving.nodeId}` };
}

/** The service's placement with the constraints of its sidecars added (the pair must fit on one node). */
function withSidecarConstraints(placement: Placement | undefined, sidecars: Service[]): Placement | undefined {
  const extra = sidecars.flatMap((s) => s.spec?.placement?.constraints ?? []);
  if (extra.length === 0) return placement;
  const base = placement ?? {
    constraints: [],
    spread: [],
    maxReplicasPerNode: 0n,
    platforms: [],
    allowProcessExecutor: false,
  };
  return { ...base, constraints: [...base.constraints, ...extra] };
}
