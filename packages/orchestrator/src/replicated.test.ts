import {
  NodeSpec_Availability,
  NodeStatus_State,
  RestartPolicy_Condition,
  type Service,
  TaskHealth,
  TaskState,
  UpdateConfig_Order,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { reconcileReplicated } from './replicated.js';

const nodes = [node('n1'), node('n2'), node('n3')];

describe('replicated services', () => {
  it('creates one pending task per empty slot, from the service spec', () => {
    const plan = reconcileReplicated(service(), [], context(nodes));
    expect(plan.create.map((t) => t.slot)).toEqual([1n, 2n, 3n]);
    expect(plan.create.every((t) => t.status?.state === TaskState.TASK_STATE_PENDING && t.nodeId === '')).toBe(true);
    expect(plan.create[0]?.serviceName).toBe('st_web');
    expect(plan.update).toEqual([]);
  });

  it('leaves a converged service alone', () => {
    const tasks = [1n, 2n, 3n].map((slot, i) => task({ slot, nodeId: `n${i + 1}` }));
    const plan = reconcileReplicated(service(), tasks, context(nodes));
    expect(plan).toEqual({ create: [], update: [], remove: [], services: [] });
  });

  it('scales down from the highest slots', () => {
    const tasks = [1n, 2n, 3n].map((slot, i) => task({ slot, nodeId: `n${i + 1}` }));
    const plan = reconcileReplicated(service({ replicas: 1n }), tasks, context(nodes));
    expect(plan.update.map((t) => [t.slot, t.desiredState])).toEqual([
      [2n, TaskState.TASK_STATE_SHUTDOWN],
      [3n, TaskState.TASK_STATE_SHUTDOWN],
    ]);
    expect(plan.create).toEqual([]);
  });

  it('replaces the task of a node marked down at once, and orphans the old one', () => {
    const down = [node('n1', { state: NodeStatus_State.STATE_DOWN }), node('n2'), node('n3')];
    const tasks = [1n, 2n, 3n].map((slot, i) => task({ slot, nodeId: `n${i + 1}` }));
    const plan = reconcileReplicated(service(), tasks, context(down));
    expect(plan.update).toHaveLength(1);
    expect(plan.update[0]?.status?.state).toBe(TaskState.TASK_STATE_ORPHANED);
    expect(plan.update[0]?.desiredState).toBe(TaskState.TASK_STATE_SHUTDOWN);
    expect(plan.create.map((t) => t.slot)).toEqual([1n]);
    expect(plan.wakeAt).toBeUndefined();
  });

  it('keeps the tasks of an unknown node: neither replaced nor moved by an update, until the node is drained', () => {
    const unknown = [node('n1', { state: NodeStatus_State.STATE_UNKNOWN }), node('n2'), node('n3')];
    const tasks = [1n, 2n, 3n].map((slot, i) => task({ slot, nodeId: `n${i + 1}` }));
    expect(reconcileReplicated(service(), tasks, context(unknown))).toEqual({
      create: [],
      update: [],
      remove: [],
      services: [],
    });
    // An update moves the reachable nodes' tasks, never the unknown node's.
    const started = reconcileReplicated({ ...service(), specVersion: 2n }, tasks, context(unknown)).services[0];
    const step = reconcileReplicated(started!, tasks, context(unknown));
    expect(step.update.map((t) => [t.nodeId, t.desiredState])).toEqual([['n2', TaskState.TASK_STATE_SHUTDOWN]]);
    // Drained: the operator's word that the node is gone, and its task is replaced.
    const drained = [
      node('n1', { state: NodeStatus_State.STATE_UNKNOWN, availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
      node('n2'),
      node('n3'),
    ];
    const plan = reconcileReplicated(service(), tasks, context(drained));
    expect(plan.update.map((t) => [t.nodeId, t.desiredState, t.status?.state])).toEqual([
      ['n1', TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
    ]);
    expect(plan.create.map((t) => t.slot)).toEqual([1n]);
  });

  it('replace: false: a down node keeps its task; drained or removed, the task is replaced', () => {
    const held = task({ slot: 1n, nodeId: 'n1', disconnect: { stopAfterMs: 0n, neverStop: false, replace: false } });
    const others = [2n, 3n].map((slot, i) => task({ slot, nodeId: `n${i + 2}` }));
    const down = [node('n1', { state: NodeStatus_State.STATE_DOWN }), node('n2'), node('n3')];
    const waiting = reconcileReplicated(service(), [held, ...others], context(down));
    expect([waiting.create, waiting.update]).toEqual([[], []]);
    // A service that says nothing (or replace: true) is replaced as before.
    const plain = { ...held, disconnect: { stopAfterMs: 0n, neverStop: false, replace: true } };
    expect(reconcileReplicated(service(), [plain, ...others], context(down)).create.map((t) => t.slot)).toEqual([1n]);
    const drainedDown = [
      node('n1', { state: NodeStatus_State.STATE_DOWN, availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
      node('n2'),
      node('n3'),
    ];
    for (const nodes of [drainedDown, [node('n2'), node('n3')]]) {
      const plan = reconcileReplicated(service(), [held, ...others], context(nodes));
      expect(plan.update.map((t) => [t.id, t.status?.state])).toEqual([[held.id, TaskState.TASK_STATE_ORPHANED]]);
      expect(plan.create.map((t) => t.slot)).toEqual([1n]);
    }
  });

  it('restarts a failed task after the delay, counting attempts and backing off', () => {
    const failed = task({
      slot: 1n,
      nodeId: 'n1',
      state: TaskState.TASK_STATE_FAILED,
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 9_000n, message: '', error: 'exit 1', exitCode: 1 },
    });
    const others = [2n, 3n].map((slot) => task({ slot, nodeId: 'n2' }));
    const early = reconcileReplicated(service(), [failed, ...others], context(nodes, 10_000));
    expect(early.create).toEqual([]);
    expect(early.wakeAt).toBe(14_000);
    const due = reconcileReplicated(service(), [failed, ...others], context(nodes, 14_000));
    expect(due.create).toHaveLength(1);
    expect(due.create[0]?.consecutiveFailures).toBe(1);
    expect(due.update.map((t) => [t.id, t.desiredState])).toEqual([[failed.id, TaskState.TASK_STATE_SHUTDOWN]]);
    // A second failure in a row waits twice as long.
    const again = task({
      slot: 1n,
      nodeId: 'n1',
      consecutiveFailures: 1,
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 20_000n, message: '', error: 'exit 1', exitCode: 1 },
    });
    expect(reconcileReplicated(service(), [again, ...others], context(nodes, 20_000)).wakeAt).toBe(30_000);
  });

  it('honours restart conditions and max_attempts', () => {
    const complete = task({
      slot: 1n,
      nodeId: 'n1',
      status: { state: TaskState.TASK_STATE_COMPLETE, timestampMs: 1n, message: '', error: '', exitCode: 0 },
    });
    const onFailure = service({
      replicas: 1n,
      restartPolicy: {
        condition: RestartPolicy_Condition.CONDITION_ON_FAILURE,
        delayNs: 0n,
        maxAttempts: 0n,
        windowNs: 0n,
      },
    });
    expect(reconcileReplicated(onFailure, [complete], context(nodes)).create).toEqual([]);
    const none = service({
      replicas: 1n,
      restartPolicy: { condition: RestartPolicy_Condition.CONDITION_NONE, delayNs: 0n, maxAttempts: 0n, windowNs: 0n },
    });
    const failedTask = task({
      slot: 1n,
      nodeId: 'n1',
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 1n, message: '', error: 'x', exitCode: 2 },
    });
    expect(reconcileReplicated(none, [failedTask], context(nodes)).create).toEqual([]);
    const limited = service({
      replicas: 1n,
      restartPolicy: { condition: RestartPolicy_Condition.CONDITION_ANY, delayNs: 0n, maxAttempts: 2n, windowNs: 0n },
    });
    const third = task({
      slot: 1n,
      nodeId: 'n1',
      restartHistoryMs: [1n, 2n],
      consecutiveFailures: 2,
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 3n, message: '', error: 'x', exitCode: 1 },
    });
    expect(reconcileReplicated(limited, [third], context(nodes)).create).toEqual([]);
    const second = task({
      slot: 1n,
      nodeId: 'n1',
      restartHistoryMs: [1n],
      consecutiveFailures: 1,
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 3n, message: '', error: 'x', exitCode: 1 },
    });
    const plan = reconcileReplicated(limited, [second], context(nodes));
    expect(plan.create).toHaveLength(1);
    expect(plan.create[0]?.restartHistoryMs).toEqual([1n, 3n]);
  });

  it('moves tasks off a drained node one slot at a time (update parallelism 1, stop-first)', () => {
    const drained = [node('n1', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }), node('n2'), node('n3')];
    const tasks = [1n, 2n, 3n].map((slot) => task({ slot, nodeId: 'n1' }));
    const plan = reconcileReplicated(service(), tasks, context(drained));
    expect(plan.update.map((t) => [t.slot, t.desiredState])).toEqual([[1n, TaskState.TASK_STATE_SHUTDOWN]]);
    expect(plan.create.map((t) => t.slot)).toEqual([1n]);
    // While slot 1's replacement is not running yet, nothing else moves.
    const moving = [task({ slot: 1n, nodeId: 'n2', state: TaskState.TASK_STATE_ASSIGNED }), ...tasks.slice(1)];
    expect(reconcileReplicated(service(), moving, context(drained)).create).toEqual([]);
  });

  it('replaces at once an outdated task no node took, so that a spec that makes it fit takes effect', () => {
    const updating = {
      ...service({ replicas: 2n }),
      specVersion: 2n,
      updateStatus: { state: UpdateStatus_State.STATE_UPDATING, startedAtMs: 5_000n, specVersion: 2n },
    } as Service;
    const unplaced = task({ slot: 1n, specVersion: 1n, state: TaskState.TASK_STATE_PENDING });
    const starting = task({ slot: 2n, specVersion: 1n, nodeId: 'n1', state: TaskState.TASK_STATE_ASSIGNED });
    const plan = reconcileReplicated(updating, [unplaced, starting], context(nodes));
    expect(plan.update.map((t) => [t.id, t.desiredState])).toEqual([[unplaced.id, TaskState.TASK_STATE_SHUTDOWN]]);
    expect(plan.create.map((t) => [t.slot, t.specVersion])).toEqual([[1n, 2n]]);
  });

  it('start-first: the replacement runs before the drained task stops', () => {
    const drained = [node('n1', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }), node('n2')];
    const spec = service({
      replicas: 1n,
      updateConfig: {
        parallelism: 1n,
        order: UpdateConfig_Order.ORDER_START_FIRST,
        delayNs: 0n,
        failureAction: 0,
        monitorNs: 0n,
        maxFailureRatio: 0,
      },
    });
    const old = task({ slot: 1n, nodeId: 'n1' });
    const first = reconcileReplicated(spec, [old], context(drained));
    expect(first.update).toEqual([]);
    expect(first.create).toHaveLength(1);
    const replacement = task({ slot: 1n, nodeId: 'n2', state: TaskState.TASK_STATE_STARTING });
    expect(reconcileReplicated(spec, [old, replacement], context(drained)).update).toEqual([]);
    const running = {
      ...replacement,
      status: { ...replacement.status, state: TaskState.TASK_STATE_RUNNING },
    } as typeof replacement;
    const done = reconcileReplicated(spec, [old, running], context(drained));
    expect(done.update.map((t) => [t.id, t.desiredState])).toEqual([[old.id, TaskState.TASK_STATE_SHUTDOWN]]);
    // A replacement that is running but not healthy yet does not serve: the old task stays until it is.
    const starting = {
      ...running,
      status: { ...running.status, health: TaskHealth.TASK_HEALTH_STARTING },
    } as typeof running;
    expect(reconcileReplicated(spec, [old, starting], context(drained)).update).toEqual([]);
    const healthy = {
      ...running,
      status: { ...running.status, health: TaskHealth.TASK_HEALTH_HEALTHY },
    } as typeof running;
    expect(reconcileReplicated(spec, [old, healthy], context(drained)).update.map((t) => t.id)).toEqual([old.id]);
  });

  it('stops duplicates in a slot, keeping the newest running task', () => {
    const a = task({ slot: 1n, nodeId: 'n1' });
    const b = task({ slot: 1n, nodeId: 'n2' });
    const plan = reconcileReplicated(service({ replicas: 1n }), [a, b], context(nodes));
    expect(plan.update.map((t) => t.id)).toEqual([a.id]);
  });

  it('keeps the last five ended tasks of a slot', () => {
    const history = Array.from({ length: 7 }, () =>
      task({
        slot: 1n,
        nodeId: 'n1',
        desiredState: TaskState.TASK_STATE_SHUTDOWN,
        state: TaskState.TASK_STATE_SHUTDOWN,
      }),
    );
    const live = task({ slot: 1n, nodeId: 'n1' });
    const plan = reconcileReplicated(service({ replicas: 1n }), [...history, live], context(nodes));
    expect(plan.remove).toEqual([history[0]?.id, history[1]?.id]);
  });
});
