import { type Service, type Task, TaskHealth, TaskState, taskEnded, taskLive, taskMeantToRun } from '@flotilla/api';
import { byAge, emptyPlan, nodeHolds, nodeLost, type Plan, type ReconcileContext, stop } from './plan.js';
import { restartDecision } from './restart.js';
import { newTask } from './task-factory.js';

export interface SlotOptions {
  slot: bigint;
  /** Global services: the node this slot belongs to. */
  nodeId?: string;
  /** Whether a new task may be created here now (for global: the node takes tasks). */
  mayCreate: boolean;
  /** Live tasks that must go (drained node, constraint no longer met), with the reason. */
  evict?: (task: Task) => string | undefined;
  /** Replacement of an evicted task starts before the old one stops (update order start-first). */
  startFirst?: boolean;
  /** Whether another eviction may start now (the service's move budget); called once per eviction. */
  mayMove?: () => boolean;
}

/**
 * One slot of a service: at most one task meant to run. Replaces a task whose node is lost at once (unless the
 * node holds it: see nodeHolds), restarts a task that ended under the restart policy, moves tasks off nodes they
 * must leave, and stops duplicates (keeping the newest running one).
 */
export function reconcileSlot(service: Service, tasks: Task[], ctx: ReconcileContext, options: SlotOptions): Plan {
  const plan = emptyPlan();
  const ordered = byAge(tasks);
  const changed = new Map<string, Task>();
  const put = (t: Task) => changed.set(t.id, t);
  const current = (t: Task) => changed.get(t.id) ?? t;

  // A lost node's tasks are replaced at once, carrying the slot's restart record (a node loss is not a failure);
  // a task its node holds stays, and is not moved either.
  const lost = ordered.filter((t) => taskLive(t) && nodeLost(t, ctx.nodes) && !nodeHolds(t, ctx.nodes));
  for (const t of lost) put(stop(t, ctx, 'node down: task replaced elsewhere'));
  let live = ordered.filter((t) => taskLive(t) && !changed.has(t.id));

  // Duplicates: the newest task stays; until it is ready (running, and healthy when it reports health), the
  // newest older one that is ready (or at least running) stays too, so start-first never serves on fewer.
  if (live.length > 1) {
    const newest = live.at(-1) as Task;
    const keep = new Set([newest.id]);
    if (!isReady(newest)) {
      const older = live.slice(0, -1);
      const standIn = older.filter(isReady).at(-1) ?? older.filter(isRunning).at(-1);
      if (standIn) keep.add(standIn.id);
    }
    for (const t of live) if (!keep.has(t.id)) put(stop(t, ctx, 'replaced by a newer task'));
    live = live.filter((t) => keep.has(t.id));
  }

  const held = ordered.filter((t) => taskMeantToRun(t) && taskEnded(t));
  const create = (from?: Task, restart?: { history: bigint[]; consecutiveFailures: number }) => {
    plan.create.push(
      newTask(
        service,
        ctx,
        { slot: options.slot, ...(options.nodeId ? { nodeId: options.nodeId } : {}) },
        restart ??
          (from ? { history: from.restartHistoryMs, consecutiveFailures: from.consecutiveFailures } : undefined),
      ),
    );
  };

  if (live.length === 0) {
    const lastLost = lost.at(-1);
    const lastHeld = held.at(-1);
    if (lastLost && (!lastHeld || lastHeld.createdAtMs <= lastLost.createdAtMs)) {
      for (const t of held) put(stop(t, ctx, 'superseded'));
      if (options.mayCreate) create(lastLost);
    } else if (lastHeld) {
      const decision = restartDecision(service.spec?.restartPolicy, lastHeld, ctx.now);
      if (decision.restart && options.mayCreate) {
        if (decision.at <= ctx.now) {
          for (const t of held) put(stop(t, ctx, 'restarted'));
          create(lastHeld, decision);
        } else {
          plan.wakeAt = decision.at;
        }
      }
    } else if (options.mayCreate) {
      create();
    }
  } else {
    for (const t of held) put(stop(t, ctx, 'superseded'));
    // Eviction: only the slot's newest live task is moved, one slot at a time within the service's budget.
    const task = live.at(-1) as Task;
    const reason = nodeHolds(task, ctx.nodes) ? undefined : options.evict?.(task);
    if (reason && live.length === 1 && (options.mayMove?.() ?? true)) {
      if (options.startFirst) {
        if (options.mayCreate) create(task);
      } else {
        put(stop(task, ctx, reason));
        if (options.mayCreate) create(task);
      }
    }
  }
  for (const t of changed.values()) plan.update.push(current(t));
  return plan;
}

/** Ended, stopped tasks beyond the history limit (oldest first) are deleted. */
export function pruneHistory(tasks: Task[], limit: number): string[] {
  const done = byAge(tasks).filter((t) => t.desiredState > TaskState.TASK_STATE_RUNNING && taskEnded(t));
  return done.slice(0, Math.max(0, done.length - limit)).map((t) => t.id);
}

function isRunning(t: Task): boolean {
  return t.status?.state === TaskState.TASK_STATE_RUNNING;
}

/** Running, and not starting or unhealthy by its healthcheck: it serves. */
function isReady(t: Task): boolean {
  const health = t.status?.health;
  return isRunning(t) && health !== TaskHealth.TASK_HEALTH_STARTING && health !== TaskHealth.TASK_HEALTH_UNHEALTHY;
}
