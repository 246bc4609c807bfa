import {
  NodeSpec_Availability,
  nodeEligible,
  nodeMatches,
  type Service,
  type Task,
  TaskState,
  taskLive,
  UpdateConfig_Order,
} from '@flotilla/api';
import { unmetDependency } from './dependencies.js';
import { emptyPlan, merge, type Plan, type ReconcileContext, stop } from './plan.js';
import { pruneHistory, reconcileSlot } from './slot.js';
import { activeUpdateConfig, updateStep } from './update.js';

/**
 * A global service: one task on every node that is up, not drained, and meets the placement constraints. It
 * follows nodes as they join, leave, change labels or availability; a paused node keeps its task but gets no new
 * one. Tasks are created pinned to their node; the scheduler still checks resources and ports there.
 */
export function reconcileGlobal(service: Service, tasks: Task[], ctx: ReconcileContext): Plan {
  const plan = emptyPlan();
  const byNode = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = byNode.get(t.nodeId);
    if (list) list.push(t);
    else byNode.set(t.nodeId, [t]);
  }
  for (const id of [...ctx.nodes.keys()].sort()) if (!byNode.has(id)) byNode.set(id, []);

  const placement = service.spec?.placement;
  const eligible = [...ctx.nodes.values()].filter((n) => nodeEligible(n, placement)).length;
  // A new spec rolls out node by node, as update_config says (see update.ts).
  const step = updateStep(service, tasks, ctx, eligible);
  if (step.service) plan.services.push(step.service);
  if (step.wakeAt !== undefined) plan.wakeAt = step.wakeAt;
  let budget = step.budget;
  const order = activeUpdateConfig(step.service ?? service)?.order;
  const waiting = !tasks.some((t) => taskLive(t) && t.status?.state === TaskState.TASK_STATE_RUNNING)
    ? ctx.dependency && unmetDependency(service, ctx.dependency)
    : undefined;
  for (const [nodeId, nodeTasks] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
    const node = ctx.nodes.get(nodeId);
    if (!node || !nodeId) {
      // A task of a node that was removed (or one never pinned): it has nowhere to run.
      for (const t of nodeTasks) {
        if (t.desiredState <= TaskState.TASK_STATE_RUNNING) plan.update.push(stop(t, ctx, 'node removed'));
      }
      plan.remove.push(...pruneHistory(nodeTasks, 0));
      continue;
    }
    const matches = nodeMatches(node, placement);
    const mayCreate = !waiting && nodeEligible(node, placement);
    merge(
      plan,
      reconcileSlot(service, nodeTasks, ctx, {
        slot: 0n,
        nodeId,
        mayCreate,
        evict: (task) => {
          if (node.spec?.availability === NodeSpec_Availability.AVAILABILITY_DRAIN) return 'node drained';
          if (!matches) return 'node no longer meets the placement constraints';
          // An outdated task moves only within the update's budget (leaving a node is never held back).
          if (!step.outdated(task) || budget <= 0) return undefined;
          budget--;
          return `replaced by spec version ${service.specVersion}`;
        },
        // Start-first only where the new task can start here (a drained node's task just stops).
        startFirst: mayCreate && order === UpdateConfig_Order.ORDER_START_FIRST,
      }),
    );
    plan.remove.push(...pruneHistory(nodeTasks, ctx.historyLimit));
  }
  return plan;
}
