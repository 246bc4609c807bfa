import { Constraint_Operator, RestartPolicy_Condition, type Service, type Task, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { rebalanceStep } from './rebalance.js';
import { reconcileSidecar } from './sidecar.js';

const nodes = [node('n1'), node('n2'), node('n3')];
const SIDECAR = { service: 'st_web', shareNetwork: true, volumesFrom: [] };
const proxy = (): Service =>
  service(
    {
      annotations: { name: 'st_proxy', labels: {} },
      sidecar: SIDECAR,
      restartPolicy: {
        condition: RestartPolicy_Condition.CONDITION_ANY,
        delayNs: 5_000_000_000n,
        maxAttempts: 0n,
        windowNs: 0n,
      },
    },
    'proxy',
  );
const main = (slot: bigint, nodeId: string, state = TaskState.TASK_STATE_RUNNING) =>
  task({ serviceId: 'web', slot, nodeId, state });
const side = (m: Task, fields: Partial<Task> & { state?: TaskState } = {}) =>
  task({ serviceId: 'proxy', slot: m.slot, nodeId: m.nodeId, mainTaskId: m.id, ...fields });

describe('sidecar services', () => {
  it('makes one task per placed main task, pinned to its node, bound to it, same slot', () => {
    const mains = [
      main(1n, 'n1'),
      main(2n, 'n2', TaskState.TASK_STATE_ASSIGNED),
      main(3n, '', TaskState.TASK_STATE_PENDING),
    ];
    const plan = reconcileSidecar(proxy(), [], mains, context(nodes));
    expect(plan.create.map((t) => [t.slot, t.nodeId, t.mainTaskId, t.status?.state])).toEqual([
      [1n, 'n1', mains[0]?.id, TaskState.TASK_STATE_PENDING],
      [2n, 'n2', mains[1]?.id, TaskState.TASK_STATE_PENDING],
    ]);
    // Not for the main task no node has yet: a sidecar never waits anywhere but beside its main task.
    expect(plan.create.some((t) => t.slot === 3n)).toBe(false);
    expect(plan.create[0]?.sidecar).toEqual(SIDECAR);
  });

  it('leaves a converged pair alone', () => {
    const m = main(1n, 'n1');
    expect(reconcileSidecar(proxy(), [side(m)], [m], context(nodes))).toEqual({
      create: [],
      update: [],
      remove: [],
      services: [],
    });
  });

  it('stops the sidecar of a main task that ended or is told to stop, and follows its replacement', () => {
    const failed = main(1n, 'n1', TaskState.TASK_STATE_FAILED);
    const stopping = { ...main(2n, 'n2'), desiredState: TaskState.TASK_STATE_SHUTDOWN };
    const replacement = main(1n, 'n3', TaskState.TASK_STATE_ASSIGNED);
    const old1 = side(failed);
    const old2 = side(stopping);
    const plan = reconcileSidecar(proxy(), [old1, old2], [failed, stopping, replacement], context(nodes));
    expect(plan.update.map((t) => [t.id, t.desiredState])).toEqual([
      [old1.id, TaskState.TASK_STATE_SHUTDOWN],
      [old2.id, TaskState.TASK_STATE_SHUTDOWN],
    ]);
    // The new sidecar goes where the new main task went, never where the old one was.
    expect(plan.create.map((t) => [t.slot, t.nodeId, t.mainTaskId])).toEqual([[1n, 'n3', replacement.id]]);
  });

  it('restarts a sidecar that ended beside a running main task after its restart delay, on the same node', () => {
    const m = main(1n, 'n2');
    const ended = side(m, {
      state: TaskState.TASK_STATE_FAILED,
      status: { state: TaskState.TASK_STATE_FAILED, timestampMs: 9_000n, message: '', error: 'exit 1', exitCode: 1 },
    });
    const early = reconcileSidecar(proxy(), [ended], [m], context(nodes, 10_000));
    expect(early.create).toEqual([]);
    expect(early.wakeAt).toBe(14_000);
    const due = reconcileSidecar(proxy(), [ended], [m], context(nodes, 14_000));
    expect(due.create.map((t) => [t.nodeId, t.mainTaskId, t.consecutiveFailures])).toEqual([['n2', m.id, 1]]);
    expect(due.update.map((t) => t.id)).toEqual([ended.id]);
  });

  it('replaces a sidecar of an older spec beside the same main task', () => {
    const m = main(1n, 'n1');
    const old = side(m, { specVersion: 1n });
    const updated = { ...proxy(), specVersion: 2n };
    const plan = reconcileSidecar(updated, [old], [m], context(nodes));
    expect(plan.update.map((t) => [t.id, t.desiredState])).toEqual([[old.id, TaskState.TASK_STATE_SHUTDOWN]]);
    expect(plan.create.map((t) => [t.nodeId, t.mainTaskId, t.specVersion])).toEqual([['n1', m.id, 2n]]);
  });

  it('rolls a new spec out update_config.parallelism pairs at a time', () => {
    const mains = [main(1n, 'n1'), main(2n, 'n2'), main(3n, 'n3')];
    const old = mains.map((m) => side(m, { specVersion: 1n }));
    const updated = { ...proxy(), specVersion: 2n };
    const first = reconcileSidecar(updated, old, mains, context(nodes));
    expect(first.create).toHaveLength(1);
    expect(first.update).toHaveLength(1);
    // While that one starts, nothing more moves.
    const starting = side(mains[0] as Task, { specVersion: 2n, state: TaskState.TASK_STATE_STARTING });
    const stopped = { ...(old[0] as Task), desiredState: TaskState.TASK_STATE_SHUTDOWN };
    const second = reconcileSidecar(
      updated,
      [stopped, old[1] as Task, old[2] as Task, starting],
      mains,
      context(nodes),
    );
    expect(second.create).toEqual([]);
    // One its node never took (pending where the old spec did not fit) holds nothing: it is replaced at once.
    const unplaced = side(mains[1] as Task, { specVersion: 1n, state: TaskState.TASK_STATE_PENDING });
    const third = reconcileSidecar(updated, [stopped, unplaced, old[2] as Task, starting], mains, context(nodes));
    expect(third.create.map((t) => t.mainTaskId)).toEqual([mains[1]?.id]);
  });

  it('stops every task when the main service is gone', () => {
    const m = main(1n, 'n1');
    const plan = reconcileSidecar(proxy(), [side(m)], undefined, context(nodes));
    expect(plan.update.map((t) => t.status?.message ?? '')).toEqual(['']);
    expect(plan.update.map((t) => t.desiredState)).toEqual([TaskState.TASK_STATE_SHUTDOWN]);
    expect(plan.create).toEqual([]);
  });
});

describe('rebalancing with sidecars', () => {
  const labelled = [node('a', { labels: { edge: 'yes' } }), node('b'), node('c', { labels: { edge: 'yes' } })];
  const edgeOnly = service(
    {
      annotations: { name: 'st_proxy', labels: {} },
      sidecar: SIDECAR,
      placement: {
        constraints: [{ field: 'node.labels.edge', operator: Constraint_Operator.OPERATOR_EQ, value: 'yes' }],
        spread: [],
        maxReplicasPerNode: 0n,
        platforms: [],
        allowProcessExecutor: false,
      },
    },
    'proxy',
  );

  it('never moves a sidecar on its own', () => {
    const tasks = [1n, 2n, 3n].map((slot) => task({ serviceId: 'proxy', slot, nodeId: 'a' }));
    expect(rebalanceStep(edgeOnly, tasks, context(labelled))).toMatchObject({ done: true, reason: 'sidecar service' });
  });

  it('moves a main task only where its sidecars fit, so the pair moves together', () => {
    const web = service(
      {
        placement: { constraints: [], spread: [], maxReplicasPerNode: 0n, platforms: [], allowProcessExecutor: false },
      },
      'web',
    );
    const tasks = [1n, 2n, 3n].map((slot) => task({ serviceId: 'web', slot, nodeId: 'a' }));
    const ctx = { ...context(labelled), sidecarsOf: (name: string) => (name === 'st_web' ? [edgeOnly] : []) };
    const step = rebalanceStep(web, tasks, ctx);
    expect(step.done).toBe(false);
    // The new main task carries the sidecar's constraint: the scheduler cannot put it on b.
    expect(step.plan.create[0]?.placement?.constraints.map((c) => c.field)).toEqual(['node.labels.edge']);
    // Without a node where the sidecar fits besides the busiest, nothing moves.
    const onlyA = [node('a', { labels: { edge: 'yes' } }), node('b')];
    expect(rebalanceStep(web, tasks, { ...context(onlyA), sidecarsOf: ctx.sidecarsOf })).toMatchObject({
      done: true,
      reason: 'fewer than two eligible nodes',
    });
  });
});
