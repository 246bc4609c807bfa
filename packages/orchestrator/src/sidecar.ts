import {
  type Service,
  type Task,
  TaskState,
  taskEnded,
  taskHandedToNode,
  taskLive,
  taskMeantToRun,
} from '@flotilla/api';
import { byAge, emptyPlan, type Plan, type ReconcileContext, stop } from './plan.js';
import { restartDecision } from './restart.js';
import { pruneHistory } from './slot.js';
import { newTask } from './task-factory.js';

/**
 * A sidecar service (`network_mode: "service:NAME"`, `volumes_from:`): one task beside each live task of its main
 * service, bound to it by ID. The sidecar's task is made once the main's task is on a node, pinned to that node
 * (the scheduler still checks the sidecar's constraints and resources there, and says why when they fail), and
 * it is stopped as soon as that main task is no longer meant to run or has ended. So when a main task is
 * restarted, moved, rebalanced or updated, its replacement gets a sidecar of its own and the old pair goes
 * together; a sidecar never runs where its main task is not. A sidecar that ends on its own while its main task
 * runs is restarted beside it under the sidecar's restart policy.
 */
export function reconcileSidecar(
  service: Service,
  tasks: Task[],
  mainTasks: Task[] | undefined,
  ctx: ReconcileContext,
): Plan {
  const plan = emptyPlan();
  const mains = new Map((mainTasks ?? []).filter((m) => taskLive(m) && taskHandedToNode(m)).map((m) => [m.id, m]));
  const byMain = new Map<string, Task[]>();
  for (const t of byAge(tasks)) {
    const main = mains.get(t.mainTaskId);
    if (!main) {
      // Its main task is gone, stopping or ended: the sidecar goes with it (its network namespace does).
      if (taskMeantToRun(t))
        plan.update.push(stop(t, ctx, mainTasks ? 'its main task stopped' : 'its main service was removed'));
      continue;
    }
    byMain.set(main.id, [...(byMain.get(main.id) ?? []), t]);
  }
  // A new spec rolls out `update_config.parallelism` pairs at a time (0: all): sidecars starting on their node
  // count; one that waits for its node to take it holds nothing, and is replaced at once (its new spec may fit).
  const parallelism = Number(service.spec?.updateConfig?.parallelism ?? 1n);
  const starting = tasks.filter(
    (t) => taskLive(t) && taskHandedToNode(t) && (t.status?.state ?? 0) < TaskState.TASK_STATE_RUNNING,
  ).length;
  const budget = { left: parallelism === 0 ? Number.POSITIVE_INFINITY : parallelism - starting };
  for (const main of mains.values()) reconcilePair(service, main, byMain.get(main.id) ?? [], ctx, plan, budget);
  // History: per slot, as for other services (a global sidecar's slot is 0: per node, through its tasks' nodes).
  const bySlot = new Map<string, Task[]>();
  for (const t of tasks) {
    const key = `${t.slot}/${t.slot === 0n ? t.nodeId : ''}`;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  for (const slotTasks of bySlot.values()) plan.remove.push(...pruneHistory(slotTasks, ctx.historyLimit));
  return plan;
}

/** The sidecar tasks bound to one live main task: exactly one meant to run, of the current spec. */
function reconcilePair(
  service: Service,
  main: Task,
  bound: Task[],
  ctx: ReconcileContext,
  plan: Plan,
  budget: { left: number },
): void {
  const live = bound.filter(taskLive);
  const newest = live.at(-1);
  for (const t of live.slice(0, -1)) plan.update.push(stop(t, ctx, 'replaced by a newer task'));
  const create = (from?: Task, restart?: { history: bigint[]; consecutiveFailures: number }) =>
    plan.create.push(
      sidecarTask(
        service,
        main,
        ctx,
        restart ??
          (from ? { history: from.restartHistoryMs, consecutiveFailures: from.consecutiveFailures } : undefined),
      ),
    );
  if (newest) {
    // A new spec of the sidecar: replaced beside the same main task (stop-first), within the update's budget.
    if (newest.specVersion !== service.specVersion && (!taskHandedToNode(newest) || budget.left-- > 0)) {
      plan.update.push(stop(newest, ctx, `replaced by spec version ${service.specVersion}`));
      create(newest);
    }
    return;
  }
  const held = bound.filter((t) => taskMeantToRun(t) && taskEnded(t));
  const last = held.at(-1);
  if (!last) {
    create();
    return;
  }
  const decision = restartDecision(service.spec?.restartPolicy, last, ctx.now);
  if (!decision.restart) return;
  if (decision.at > ctx.now) {
    plan.wakeAt = Math.min(plan.wakeAt ?? Number.POSITIVE_INFINITY, decision.at);
    return;
  }
  for (const t of held) plan.update.push(stop(t, ctx, 'restarted'));
  create(last, decision);
}

function sidecarTask(
  service: Service,
  main: Task,
  ctx: ReconcileContext,
  restart: { history: bigint[]; consecutiveFailures: number } | undefined,
): Task {
  const task = newTask(service, ctx, { slot: main.slot, nodeId: main.nodeId }, restart);
  return { ...task, sidecar: service.spec?.sidecar, mainTaskId: main.id };
}
