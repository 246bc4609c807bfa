import { NodeSpec_Availability, type Service, type Task, TaskState, taskLive, UpdateConfig_Order } from '@flotilla/api';
import { unmetDependency } from './dependencies.js';
import { emptyPlan, merge, type Plan, type ReconcileContext, stop } from './plan.js';
import { pruneHistory, reconcileSlot } from './slot.js';
import { activeUpdateConfig, updateStep } from './update.js';

/**
 * A replicated service: slots 1..replicas, each with one task meant to run. Scaling down stops the highest slots
 * first. Tasks leave drained nodes a few at a time: no more slots in motion (placed but not yet running) than the
 * update parallelism allows, stop-first or start-first as the update order says.
 */
export function reconcileReplicated(service: Service, tasks: Task[], ctx: ReconcileContext): Plan {
  const plan = emptyPlan();
  const replicas = service.spec?.replicas ?? 1n;
  const slots = new Map<bigint, Task[]>();
  for (const t of tasks) {
    const list = slots.get(t.slot);
    if (list) list.push(t);
    else slots.set(t.slot, [t]);
  }
  for (let slot = 1n; slot <= replicas; slot++) if (!slots.has(slot)) slots.set(slot, []);

  const step = updateStep(service, tasks, ctx);
  if (step.service) plan.services.push(step.service);
  if (step.wakeAt !== undefined) plan.wakeAt = step.wakeAt;
  const update = activeUpdateConfig(step.service ?? service);
  const parallelism = Number(update?.parallelism ?? 1n);
  // An outdated task the scheduler never placed (no node fitted its old spec) holds nothing and is not in motion:
  // it is replaced at once, or a new spec that makes it fit (a constraint fixed, process nodes allowed) would wait
  // for it forever.
  const unplacedOutdated = (t: Task) => !t.nodeId && step.outdated(t);
  const inMotion = tasks.filter(
    (t) =>
      t.slot <= replicas &&
      taskLive(t) &&
      (t.status?.state ?? 0) < TaskState.TASK_STATE_RUNNING &&
      !unplacedOutdated(t),
  ).length;
  let budget = Math.min(parallelism === 0 ? Number.POSITIVE_INFINITY : parallelism - inMotion, step.budget);
  // depends_on: a service none of whose tasks runs starts only once its dependencies are met.
  const waiting = !tasks.some((t) => taskLive(t) && t.status?.state === TaskState.TASK_STATE_RUNNING)
    ? ctx.dependency && unmetDependency(service, ctx.dependency)
    : undefined;
  const evict = (task: Task) => {
    const node = ctx.nodes.get(task.nodeId);
    if (node?.spec?.availability === NodeSpec_Availability.AVAILABILITY_DRAIN) return 'node drained';
    return step.outdated(task) ? `replaced by spec version ${service.specVersion}` : undefined;
  };

  for (const [slot, slotTasks] of [...slots].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (slot > replicas || slot === 0n) {
      for (const t of slotTasks) {
        if (t.desiredState <= TaskState.TASK_STATE_RUNNING) plan.update.push(stop(t, ctx, 'scaled down'));
      }
    } else {
      merge(
        plan,
        reconcileSlot(service, slotTasks, ctx, {
          slot,
          mayCreate: !waiting,
          evict,
          startFirst: update?.order === UpdateConfig_Order.ORDER_START_FIRST,
          // Replacing a task no node took costs nothing: it is outside the budget.
          mayMove: () => slotTasks.some(unplacedOutdated) || budget-- > 0,
        }),
      );
    }
    plan.remove.push(...pruneHistory(slotTasks, slot > replicas ? 0 : ctx.historyLimit));
  }
  return plan;
}
