import {
  jobLimits,
  NodeSpec_Availability,
  nodeEligible,
  nodeMatches,
  type Service,
  type Task,
  TaskState,
  taskEnded,
  taskFailed,
  taskMeantToRun,
  UpdateStatus_State,
} from '@flotilla/api';
import { unmetDependency } from './dependencies.js';
import { byAge, emptyPlan, nodeHolds, nodeLost, type Plan, type ReconcileContext, stop } from './plan.js';
import { restartDecision } from './restart.js';
import { newTask } from './task-factory.js';

/**
 * Jobs, as Docker's swarm has them. A job's run (its iteration) is its spec version: a changed spec or `service
 * update --force` makes a new version, whose tasks start from nothing while the old run's tasks stop. A task that
 * exits 0 is complete: it is never started again in its run. A failed task is retried under the restart policy
 * (attempts counted on the tasks, as for services); with none left its desired state becomes FAILED, and the run
 * has failed. A task lost with its node is replaced and counts neither as a completion nor as an attempt.
 */

/** What one slot (a completion to reach, or a node for a global job) needs. */
interface SlotVerdict {
  plan: Plan;
  /** A task exited 0 in this run. */
  complete: boolean;
  /** A task failed with no attempt left. */
  failed: boolean;
  /** Tasks of this run not ended yet (they count against max_concurrent until they have stopped). */
  occupying: number;
  /**
   * The slot needs a new task: a replacement carries the slot's restart record, and the task it supersedes is
   * stopped only when the new one is made (a restart held back by max_concurrent keeps its attempt count).
   */
  want?: { replacement: boolean; restart?: { history: bigint[]; consecutiveFailures: number }; supersedes?: Task };
}

/**
 * A replicated job: slots 1..total_completions, each done once one of its tasks completes, with at most
 * max_concurrent tasks of the run not ended at any time (replacements go before slots not started yet).
 */
export function reconcileReplicatedJob(service: Service, tasks: Task[], ctx: ReconcileContext): Plan {
  const plan = emptyPlan();
  const { maxConcurrent, totalCompletions } = jobLimits(service.spec);
  const { current, older } = byRun(service, tasks, ctx, plan);
  const slots = new Map<bigint, Task[]>();
  for (const t of current) slots.set(t.slot, [...(slots.get(t.slot) ?? []), t]);

  let occupying = 0;
  let failed = false;
  const wants: ({ slot: bigint } & NonNullable<SlotVerdict['want']>)[] = [];
  for (let slot = 1n; slot <= totalCompletions; slot++) {
    const verdict = jobSlot(service, slots.get(slot) ?? [], ctx, (t) => drainedNode(t, ctx));
    mergeInto(plan, verdict.plan);
    occupying += verdict.occupying;
    failed ||= verdict.failed;
    if (verdict.want) wants.push({ slot, ...verdict.want });
  }
  // Tasks of slots past the completions (none, unless a spec was edited in place): stopped.
  for (const [slot, list] of slots) {
    if (slot >= 1n && slot <= totalCompletions) continue;
    for (const t of list) if (taskMeantToRun(t)) plan.update.push(stop(t, ctx, 'not part of the job'));
  }
  const waiting = current.length === 0 && ctx.dependency && unmetDependency(service, ctx.dependency);
  let budget = Number(maxConcurrent) - occupying;
  // A failed run starts no more slots; replacements of tasks already started still go on.
  const ordered = [...wants.filter((w) => w.replacement), ...wants.filter((w) => !w.replacement)];
  for (const w of ordered) {
    if (budget <= 0 || waiting || (failed && !w.replacement)) break;
    budget--;
    if (w.supersedes) plan.update.push(w.supersedes);
    plan.create.push(newTask(service, ctx, { slot: w.slot }, w.restart));
  }
  plan.remove.push(...pruneJobHistory(service, [...older, ...current], ctx.historyLimit));
  return plan;
}

/**
 * A global job: one task run to completion on every eligible node, once per run; a node that becomes eligible
 * later runs it too. Nodes that leave (drained, no longer matching) have their running task stopped.
 */
export function reconcileGlobalJob(service: Service, tasks: Task[], ctx: ReconcileContext): Plan {
  const plan = emptyPlan();
  const placement = service.spec?.placement;
  const { current, older } = byRun(service, tasks, ctx, plan);
  const byNode = new Map<string, Task[]>();
  for (const t of current) byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t]);
  for (const id of ctx.nodes.keys()) if (!byNode.has(id)) byNode.set(id, []);
  const waiting = current.length === 0 && ctx.dependency && unmetDependency(service, ctx.dependency);

  for (const [nodeId, nodeTasks] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
    const node = ctx.nodes.get(nodeId);
    if (!node) {
      for (const t of nodeTasks) if (taskMeantToRun(t)) plan.update.push(stop(t, ctx, 'node removed'));
      continue;
    }
    const leave = !nodeMatches(node, placement)
      ? 'node no longer meets the placement constraints'
      : node.spec?.availability === NodeSpec_Availability.AVAILABILITY_DRAIN
        ? 'node drained'
        : undefined;
    const verdict = jobSlot(service, nodeTasks, ctx, () => leave);
    mergeInto(plan, verdict.plan);
    if (verdict.want && !waiting && nodeEligible(node, placement)) {
      if (verdict.want.supersedes) plan.update.push(verdict.want.supersedes);
      plan.create.push(newTask(service, ctx, { slot: 0n, nodeId }, verdict.want.restart));
    }
  }
  plan.remove.push(...pruneJobHistory(service, [...older, ...current], ctx.historyLimit));
  return plan;
}

/**
 * The run's tasks, and the older runs' (those still meant to run are stopped: a new run replaces them). A job is
 * never rolled out: a rollback (`service rollback`) is simply a run of the previous spec, so its status is
 * settled at once rather than left "started" for ever.
 */
function byRun(service: Service, tasks: Task[], ctx: ReconcileContext, plan: Plan) {
  const status = service.updateStatus;
  if (status?.specVersion === service.specVersion && ROLLING.has(status.state)) {
    const rollback = status.state === UpdateStatus_State.STATE_ROLLBACK_STARTED;
    plan.services.push({
      ...service,
      updateStatus: {
        ...status,
        state: rollback ? UpdateStatus_State.STATE_ROLLBACK_COMPLETED : UpdateStatus_State.STATE_COMPLETED,
        completedAtMs: BigInt(ctx.now),
        message: `${status.message}; a job is not rolled out: the spec runs as a new run of the job`,
      },
    });
  }
  const current: Task[] = [];
  const older: Task[] = [];
  for (const t of tasks) {
    if (t.specVersion === service.specVersion) current.push(t);
    else {
      older.push(t);
      if (taskMeantToRun(t)) plan.update.push(stop(t, ctx, `replaced by run ${service.specVersion} of the job`));
    }
  }
  return { current, older };
}

/**
 * One slot of a job's run. Complete: nothing more, ever, in this run (a completed task is marked so, desired
 * COMPLETE). Otherwise the newest task decides: still going (moved off a node it must leave), lost with its node
 * (replaced), or ended without completing (retried under the restart policy, or the run has failed).
 */
export function jobSlot(
  service: Service,
  tasks: Task[],
  ctx: ReconcileContext,
  evict: (task: Task) => string | undefined,
): SlotVerdict {
  const plan = emptyPlan();
  const ordered = byAge(tasks);
  const completed = ordered.filter((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE);
  for (const t of completed) {
    if (t.desiredState !== TaskState.TASK_STATE_COMPLETE && taskMeantToRun(t)) {
      plan.update.push(stop(t, ctx, 'complete', TaskState.TASK_STATE_COMPLETE));
    }
  }
  const notEnded = ordered.filter((t) => !taskEnded(t));
  const occupyingOf = (list: Task[]) => list.filter((t) => !nodeLost(t, ctx.nodes) || nodeHolds(t, ctx.nodes)).length;
  if (completed.length > 0) {
    // A duplicate still running (a lost node that came back): the slot is done, it stops.
    for (const t of notEnded) if (taskMeantToRun(t)) plan.update.push(stop(t, ctx, 'the job slot completed'));
    return { plan, complete: true, failed: false, occupying: occupyingOf(notEnded) };
  }
  if (ordered.some((t) => t.desiredState === TaskState.TASK_STATE_FAILED)) {
    return { plan, complete: false, failed: true, occupying: occupyingOf(notEnded) };
  }
  const newest = ordered.at(-1);
  if (!newest) return { plan, complete: false, failed: false, occupying: 0, want: { replacement: false } };
  const record = { history: newest.restartHistoryMs, consecutiveFailures: newest.consecutiveFailures };
  // Older tasks still meant to run (a task replaced while its node was away): only the newest stays.
  for (const t of ordered.slice(0, -1)) {
    if (taskMeantToRun(t) && !taskEnded(t)) plan.update.push(stop(t, ctx, 'replaced by a newer task'));
  }

  if (!taskEnded(newest)) {
    if (!taskMeantToRun(newest)) {
      // Stopping (moved off its node): the replacement waits until it has stopped, so the cap holds.
      return { plan, complete: false, failed: false, occupying: occupyingOf(notEnded) };
    }
    const lost = nodeLost(newest, ctx.nodes) && !nodeHolds(newest, ctx.nodes);
    if (lost) {
      plan.update.push(stop(newest, ctx, 'node down: task replaced elsewhere'));
      return { plan, complete: false, failed: false, occupying: 0, want: { replacement: true, restart: record } };
    }
    const reason = nodeHolds(newest, ctx.nodes) ? undefined : evict(newest);
    if (reason) plan.update.push(stop(newest, ctx, reason));
    return { plan, complete: false, failed: false, occupying: occupyingOf(notEnded) };
  }

  const occupying = occupyingOf(notEnded);
  if (!taskMeantToRun(newest) && !taskFailed(newest)) {
    // Stopped by the orchestrator (moved, lost with its node): it runs again, and it was no attempt.
    return { plan, complete: false, failed: false, occupying, want: { replacement: true, restart: record } };
  }
  if (!taskFailed(newest)) {
    // Ended without completing or failing (fenced, shut down by its node): run again, no attempt counted.
    const supersedes = stop(newest, ctx, 'run again');
    return {
      plan,
      complete: false,
      failed: false,
      occupying,
      want: { replacement: true, restart: record, supersedes },
    };
  }
  if (!taskMeantToRun(newest)) {
    // Failed after it was told to stop (moved off a drained node): no attempt counted either.
    return { plan, complete: false, failed: false, occupying, want: { replacement: true, restart: record } };
  }
  const decision = restartDecision(service.spec?.restartPolicy, newest, ctx.now);
  if (!decision.restart) {
    plan.update.push(stop(newest, ctx, `job failed: ${decision.reason}`, TaskState.TASK_STATE_FAILED));
    return { plan, complete: false, failed: true, occupying };
  }
  if (decision.at > ctx.now) {
    plan.wakeAt = decision.at;
    return { plan, complete: false, failed: false, occupying };
  }
  const restart = { history: decision.history, consecutiveFailures: decision.consecutiveFailures };
  const supersedes = stop(newest, ctx, 'restarted');
  return { plan, complete: false, failed: false, occupying, want: { replacement: true, restart, supersedes } };
}

const ROLLING = new Set([UpdateStatus_State.STATE_UPDATING, UpdateStatus_State.STATE_ROLLBACK_STARTED]);

function drainedNode(task: Task, ctx: ReconcileContext): string | undefined {
  const node = ctx.nodes.get(task.nodeId);
  return node?.spec?.availability === NodeSpec_Availability.AVAILABILITY_DRAIN ? 'node drained' : undefined;
}

function mergeInto(into: Plan, from: Plan): void {
  into.update.push(...from.update);
  if (from.wakeAt !== undefined) into.wakeAt = Math.min(into.wakeAt ?? Number.POSITIVE_INFINITY, from.wakeAt);
}

/**
 * Ended tasks kept: every completion and the final failure of the current run (they are its record), and up to
 * the history limit of the others per slot (or node), oldest deleted first.
 */
function pruneJobHistory(service: Service, tasks: Task[], limit: number): string[] {
  const record = (t: Task) =>
    t.specVersion === service.specVersion &&
    (t.status?.state === TaskState.TASK_STATE_COMPLETE || t.desiredState === TaskState.TASK_STATE_FAILED);
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    if (record(t) || taskMeantToRun(t) || !taskEnded(t)) continue;
    const key = t.slot === 0n ? `node:${t.nodeId}` : String(t.slot);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const out: string[] = [];
  for (const list of groups.values()) {
    const old = byAge(list);
    out.push(...old.slice(0, Math.max(0, old.length - limit)).map((t) => t.id));
  }
  return out;
}
