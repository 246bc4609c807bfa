import {
  jobProgress,
  NodeSpec_Availability,
  NodeStatus_State,
  RestartPolicy_Condition,
  type Service,
  ServiceMode,
  type Task,
  TaskState,
  taskEnded,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { reconcileGlobalJob, reconcileReplicatedJob } from './job.js';
import type { Plan } from './plan.js';

const nodes = [node('n1'), node('n2'), node('n3')];
const onFailure = (maxAttempts = 0n) => ({
  condition: RestartPolicy_Condition.CONDITION_ON_FAILURE,
  delayNs: 1_000_000_000n,
  maxAttempts,
  windowNs: 0n,
});

function job(maxConcurrent: bigint, totalCompletions: bigint, maxAttempts = 0n): Service {
  return service({
    mode: ServiceMode.SERVICE_MODE_REPLICATED_JOB,
    replicas: maxConcurrent,
    job: { maxConcurrent, totalCompletions },
    restartPolicy: onFailure(maxAttempts),
  });
}

const globalJob = (maxAttempts = 0n) =>
  service({ mode: ServiceMode.SERVICE_MODE_GLOBAL_JOB, replicas: 0n, restartPolicy: onFailure(maxAttempts) });

const exited = (slot: bigint, code: number, fields: Partial<Task> = {}) =>
  task({
    slot,
    nodeId: 'n1',
    state: code === 0 ? TaskState.TASK_STATE_COMPLETE : TaskState.TASK_STATE_FAILED,
    ...fields,
    status: {
      state: code === 0 ? TaskState.TASK_STATE_COMPLETE : TaskState.TASK_STATE_FAILED,
      timestampMs: 1_000n,
      message: code === 0 ? 'finished' : 'failed',
      error: code === 0 ? '' : `exited with code ${code}`,
      exitCode: code,
    },
  });

describe('replicated jobs', () => {
  it('starts max_concurrent tasks, from the first slots, and no more', () => {
    const plan = reconcileReplicatedJob(job(2n, 5n), [], context(nodes));
    expect(plan.create.map((t) => t.slot)).toEqual([1n, 2n]);
    expect(plan.create.every((t) => t.specVersion === 1n && t.desiredState === TaskState.TASK_STATE_RUNNING)).toBe(
      true,
    );
  });

  it('defaults both limits to the replicas (Docker)', () => {
    const s = job(0n, 0n);
    s.spec!.replicas = 3n;
    expect(reconcileReplicatedJob(s, [], context(nodes)).create.map((t) => t.slot)).toEqual([1n, 2n, 3n]);
  });

  it('marks a finished task complete, never replaces it, and starts the next slot in its place', () => {
    const tasks = [exited(1n, 0), task({ slot: 2n, nodeId: 'n2' })];
    const plan = reconcileReplicatedJob(job(2n, 5n), tasks, context(nodes));
    expect(plan.update.map((t) => [t.slot, t.desiredState])).toEqual([[1n, TaskState.TASK_STATE_COMPLETE]]);
    expect(plan.create.map((t) => t.slot)).toEqual([3n]);
  });

  it('does nothing more once every completion is reached, and keeps the completions in the history', () => {
    const tasks = [1n, 2n, 3n].map((slot) => exited(slot, 0, { desiredState: TaskState.TASK_STATE_COMPLETE }));
    const ctx = { ...context(nodes), historyLimit: 0 };
    expect(reconcileReplicatedJob(job(3n, 3n), tasks, ctx)).toEqual({
      create: [],
      update: [],
      remove: [],
      services: [],
    });
    expect(jobProgress(job(3n, 3n), tasks)).toMatchObject({ completed: 3, total: 3, finished: true });
  });

  it('retries a failed task after the restart delay, in the same slot, counting the attempt', () => {
    const failed = exited(1n, 3);
    const early = reconcileReplicatedJob(job(1n, 1n, 2n), [failed], context(nodes, 1_500));
    expect(early.create).toEqual([]);
    expect(early.update).toEqual([]);
    expect(early.wakeAt).toBe(2_000);
    const due = reconcileReplicatedJob(job(1n, 1n, 2n), [failed], context(nodes, 2_000));
    expect(due.create.map((t) => [t.slot, t.restartHistoryMs, t.consecutiveFailures])).toEqual([[1n, [1_000n], 1]]);
    expect(due.update.map((t) => [t.id, t.desiredState])).toEqual([[failed.id, TaskState.TASK_STATE_SHUTDOWN]]);
  });

  it('fails the run when a task fails with no attempt left: no more slots start, and the failure is kept', () => {
    const last = exited(1n, 7, { restartHistoryMs: [500n] });
    const running = task({ slot: 2n, nodeId: 'n2' });
    const s = job(2n, 4n, 1n);
    const plan = reconcileReplicatedJob(s, [last, running], context(nodes));
    expect(plan.update.map((t) => [t.id, t.desiredState])).toEqual([[last.id, TaskState.TASK_STATE_FAILED]]);
    expect(plan.create).toEqual([]);
    const after = [plan.update[0]!, running];
    expect(jobProgress(s, after).failed?.status?.exitCode).toBe(7);
    // Decided once: the next round neither retries nor starts anything (slot 2 still runs to its end).
    const next = reconcileReplicatedJob(s, after, { ...context(nodes), historyLimit: 0 });
    expect(next).toEqual({ create: [], update: [], remove: [], services: [] });
  });

  it('replaces a task lost with its node, as neither a completion nor an attempt', () => {
    const down = [node('n1', { state: NodeStatus_State.STATE_DOWN }), node('n2')];
    const lost = task({ slot: 1n, nodeId: 'n1', restartHistoryMs: [1n], consecutiveFailures: 1 });
    const plan = reconcileReplicatedJob(job(1n, 2n), [lost], context(down));
    expect(plan.update.map((t) => t.status?.state)).toEqual([TaskState.TASK_STATE_ORPHANED]);
    expect(plan.create.map((t) => [t.slot, t.restartHistoryMs, t.consecutiveFailures])).toEqual([[1n, [1n], 1]]);
    expect(jobProgress(job(1n, 2n), [...plan.update, ...plan.create]).completed).toBe(0);
  });

  it('keeps a completion made on a node that is lost afterwards', () => {
    const down = [node('n1', { state: NodeStatus_State.STATE_DOWN }), node('n2')];
    const done = exited(1n, 0, { desiredState: TaskState.TASK_STATE_COMPLETE });
    const plan = reconcileReplicatedJob(job(1n, 2n), [done], context(down));
    expect(plan.create.map((t) => t.slot)).toEqual([2n]);
    expect(plan.update).toEqual([]);
  });

  it('holds a retry back while max_concurrent tasks run, without losing its attempt count', () => {
    const failed = exited(1n, 1);
    const busy = [task({ slot: 2n, nodeId: 'n2' })];
    const s = job(1n, 2n, 3n);
    const held = reconcileReplicatedJob(s, [failed, ...busy], context(nodes));
    expect(held.create).toEqual([]);
    expect(held.update).toEqual([]);
    const freed = reconcileReplicatedJob(s, [failed, exited(2n, 0)], context(nodes));
    expect(freed.create.map((t) => [t.slot, t.restartHistoryMs])).toEqual([[1n, [1_000n]]]);
  });

  it('starts a new run for a new spec version: the old run stops, its completions do not count', () => {
    const old = [exited(1n, 0, { desiredState: TaskState.TASK_STATE_COMPLETE }), task({ slot: 2n, nodeId: 'n2' })];
    const s = { ...job(2n, 2n), specVersion: 2n };
    const plan = reconcileReplicatedJob(s, old, context(nodes));
    expect(plan.update.map((t) => [t.slot, t.desiredState])).toEqual([[2n, TaskState.TASK_STATE_SHUTDOWN]]);
    expect(plan.create.map((t) => [t.slot, t.specVersion])).toEqual([
      [1n, 2n],
      [2n, 2n],
    ]);
    expect(jobProgress(s, old)).toMatchObject({ completed: 0, finished: false });
  });

  it('counts max_concurrent per run: a stopping task of the old run does not hold the new one back', () => {
    // The cap is per run: a task of the old run that is stopping does not hold the new run back.
    const s = { ...job(1n, 1n), specVersion: 2n };
    const stopping = task({ slot: 1n, nodeId: 'n1', desiredState: TaskState.TASK_STATE_SHUTDOWN });
    expect(reconcileReplicatedJob(s, [stopping], context(nodes)).create).toHaveLength(1);
  });

  it('moves a task off a drained node only once it has stopped, so the cap holds', () => {
    const drained = [node('n1', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }), node('n2')];
    const t = task({ slot: 1n, nodeId: 'n1' });
    const plan = reconcileReplicatedJob(job(1n, 1n), [t], context(drained));
    expect(plan.update.map((u) => u.desiredState)).toEqual([TaskState.TASK_STATE_SHUTDOWN]);
    expect(plan.create).toEqual([]);
    const stopped = {
      ...plan.update[0]!,
      status: { ...plan.update[0]!.status!, state: TaskState.TASK_STATE_SHUTDOWN },
    };
    expect(reconcileReplicatedJob(job(1n, 1n), [stopped], context(drained)).create.map((c) => c.slot)).toEqual([1n]);
  });
});

describe('global jobs', () => {
  it('runs one task on every eligible node, pinned to it', () => {
    const some = [...nodes, node('n4', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN })];
    const plan = reconcileGlobalJob(globalJob(), [], context(some));
    expect(plan.create.map((t) => [t.nodeId, t.slot])).toEqual([
      ['n1', 0n],
      ['n2', 0n],
      ['n3', 0n],
    ]);
  });

  it('runs once per node: a completed node gets nothing more, a node that joins later runs it too', () => {
    const done = nodes.map((n) => exited(0n, 0, { nodeId: n.id, desiredState: TaskState.TASK_STATE_COMPLETE }));
    expect(reconcileGlobalJob(globalJob(), done, context(nodes)).create).toEqual([]);
    const joined = reconcileGlobalJob(globalJob(), done, context([...nodes, node('n4')]));
    expect(joined.create.map((t) => t.nodeId)).toEqual(['n4']);
  });

  it('retries a failure on the same node, and reports the run failed once no attempt is left', () => {
    const failed = exited(0n, 2, { nodeId: 'n2', restartHistoryMs: [1n] });
    const ok = [exited(0n, 0, { nodeId: 'n1' }), failed, task({ slot: 0n, nodeId: 'n3' })];
    const retry = reconcileGlobalJob(globalJob(3n), ok, context(nodes));
    expect(retry.create.map((t) => t.nodeId)).toEqual(['n2']);
    const final = reconcileGlobalJob(globalJob(1n), ok, context(nodes));
    expect(final.create).toEqual([]);
    const failedNow = final.update.find((t) => t.id === failed.id);
    expect(failedNow?.desiredState).toBe(TaskState.TASK_STATE_FAILED);
  });
});

/**
 * The job run end to end against a simulated cluster: a scheduler that places every pending task, agents that run
 * each task for a while and exit 0 or, for chosen slots, fail a few times. Every state seen is checked.
 */
describe('a replicated job run, every state checked', () => {
  it('reaches its completions, never over max_concurrent, never restarting a completed task', () => {
    const s = job(3n, 10n, 5n);
    const failFirst = new Map<bigint, number>([
      [2n, 2],
      [7n, 1],
    ]);
    const tasks = new Map<string, Task>();
    const completedIds = new Set<string>();
    let now = 10_000;
    let maxSeen = 0;
    for (let round = 0; round < 400; round++) {
      now += 500;
      const ctx = context(nodes, now);
      let n = 0;
      ctx.newId = () => `r${round}-${++n}`;
      const plan: Plan = reconcileReplicatedJob(s, [...tasks.values()], ctx);
      for (const t of plan.update) {
        // What must not happen: a completed task told to run again.
        if (completedIds.has(t.id)) expect(t.desiredState).toBe(TaskState.TASK_STATE_COMPLETE);
        tasks.set(t.id, t);
      }
      for (const t of plan.create) tasks.set(t.id, t);
      for (const id of plan.remove) tasks.delete(id);
      // The cluster: pending → running; a running task ends after a round (fails while its slot has failures left).
      for (const [id, t] of tasks) {
        if (taskEnded(t) || t.desiredState > TaskState.TASK_STATE_RUNNING) continue;
        if (t.status?.state === TaskState.TASK_STATE_PENDING) {
          tasks.set(id, { ...t, nodeId: 'n1', status: { ...t.status, state: TaskState.TASK_STATE_RUNNING } });
        } else {
          const left = failFirst.get(t.slot) ?? 0;
          if (left > 0) failFirst.set(t.slot, left - 1);
          const state = left > 0 ? TaskState.TASK_STATE_FAILED : TaskState.TASK_STATE_COMPLETE;
          tasks.set(id, {
            ...t,
            status: { ...t.status!, state, timestampMs: BigInt(now), exitCode: left > 0 ? 1 : 0 },
          });
          if (state === TaskState.TASK_STATE_COMPLETE) completedIds.add(id);
        }
      }
      const running = [...tasks.values()].filter((t) => !taskEnded(t)).length;
      maxSeen = Math.max(maxSeen, running);
      expect(running).toBeLessThanOrEqual(3);
      // No slot ever completes twice.
      const completeSlots = [...tasks.values()].filter((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE);
      expect(new Set(completeSlots.map((t) => t.slot)).size).toBe(completeSlots.length);
      if (jobProgress(s, [...tasks.values()]).finished) break;
    }
    expect(jobProgress(s, [...tasks.values()])).toMatchObject({ completed: 10, total: 10, finished: true });
    // The run did use its parallelism, so the cap was tested, not idle.
    expect(maxSeen).toBe(3);
    expect(failFirst.get(2n)).toBe(0);
    expect(failFirst.get(7n)).toBe(0);
  });
});

describe('a job and rollback', () => {
  it('settles a rollback at once: the previous spec is just a new run, never left rolling back', () => {
    const s: Service = {
      ...job(1n, 1n),
      specVersion: 2n,
      updateStatus: {
        state: UpdateStatus_State.STATE_ROLLBACK_STARTED,
        startedAtMs: 1n,
        completedAtMs: 0n,
        message: 'rollback requested by the operator',
        specVersion: 2n,
      },
    };
    const plan = reconcileReplicatedJob(s, [], context(nodes));
    expect(plan.services.map((x) => x.updateStatus?.state)).toEqual([UpdateStatus_State.STATE_ROLLBACK_COMPLETED]);
    expect(plan.create.map((t) => t.specVersion)).toEqual([2n]);
    // Settled: the next round writes nothing to the service.
    expect(reconcileReplicatedJob(plan.services[0]!, plan.create, context(nodes)).services).toEqual([]);
  });
});
