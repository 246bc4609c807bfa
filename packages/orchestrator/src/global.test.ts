import { Constraint_Operator, NodeSpec_Availability, NodeStatus_State, ServiceMode, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { reconcileGlobal } from './global.js';

const global = (constraints: { field: string; operator: Constraint_Operator; value: string }[] = []) =>
  service({
    mode: ServiceMode.SERVICE_MODE_GLOBAL,
    replicas: 0n,
    placement: { constraints, spread: [], maxReplicasPerNode: 0n, platforms: [], allowProcessExecutor: false },
  });

describe('global services', () => {
  it('puts one task, pinned, on every node that meets the constraints', () => {
    const nodes = [
      node('a', { labels: { zone: 'x' } }),
      node('b', { labels: { zone: 'y' } }),
      node('c', { labels: { zone: 'x' } }),
    ];
    const plan = reconcileGlobal(
      global([{ field: 'node.labels.zone', operator: Constraint_Operator.OPERATOR_EQ, value: 'x' }]),
      [],
      context(nodes),
    );
    expect(plan.create.map((t) => t.nodeId)).toEqual(['a', 'c']);
    expect(plan.create.every((t) => t.slot === 0n && t.status?.state === TaskState.TASK_STATE_PENDING)).toBe(true);
  });

  it('follows nodes: a joining node gets a task, a down one is orphaned, a drained one is emptied, a paused one kept', () => {
    const nodes = [
      node('up'),
      node('down', { state: NodeStatus_State.STATE_DOWN }),
      node('drained', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
      node('paused', { availability: NodeSpec_Availability.AVAILABILITY_PAUSE }),
      node('new'),
    ];
    const tasks = ['up', 'down', 'drained', 'paused'].map((nodeId) => task({ nodeId }));
    const plan = reconcileGlobal(global(), tasks, context(nodes));
    expect(plan.create.map((t) => t.nodeId)).toEqual(['new']);
    const updates = Object.fromEntries(plan.update.map((t) => [t.nodeId, [t.desiredState, t.status?.state]]));
    expect(updates).toEqual({
      down: [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
      drained: [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_RUNNING],
    });
  });

  it('keeps the task of an unknown node, and of a down node when the service says replace: false, until drained', () => {
    const keep = { stopAfterMs: 0n, neverStop: false, replace: false };
    const nodes = [
      node('unknown', { state: NodeStatus_State.STATE_UNKNOWN }),
      node('held', { state: NodeStatus_State.STATE_DOWN }),
      node('down', { state: NodeStatus_State.STATE_DOWN }),
      node('gone', {
        state: NodeStatus_State.STATE_UNKNOWN,
        availability: NodeSpec_Availability.AVAILABILITY_DRAIN,
      }),
      node('heldDrained', {
        state: NodeStatus_State.STATE_DOWN,
        availability: NodeSpec_Availability.AVAILABILITY_DRAIN,
      }),
    ];
    const tasks = [
      task({ nodeId: 'unknown' }),
      task({ nodeId: 'held', disconnect: keep }),
      task({ nodeId: 'down' }),
      task({ nodeId: 'gone' }),
      task({ nodeId: 'heldDrained', disconnect: keep }),
    ];
    const plan = reconcileGlobal(global(), tasks, context(nodes));
    expect(plan.create).toEqual([]);
    const updates = Object.fromEntries(plan.update.map((t) => [t.nodeId, [t.desiredState, t.status?.state]]));
    expect(updates).toEqual({
      down: [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
      gone: [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
      heldDrained: [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
    });
    // A removed node's task stops, whatever its service says.
    const removed = reconcileGlobal(global(), [task({ nodeId: 'x', disconnect: keep })], context([]));
    expect(removed.update.map((t) => [t.desiredState, t.status?.state])).toEqual([
      [TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_ORPHANED],
    ]);
  });

  it('stops the task of a node whose labels no longer meet the constraints, and of a removed node', () => {
    const nodes = [node('a', { labels: { zone: 'y' } })];
    const tasks = [task({ nodeId: 'a' }), task({ nodeId: 'gone' })];
    const plan = reconcileGlobal(
      global([{ field: 'node.labels.zone', operator: Constraint_Operator.OPERATOR_EQ, value: 'x' }]),
      tasks,
      context(nodes),
    );
    expect(plan.create).toEqual([]);
    expect(plan.update.map((t) => [t.nodeId, t.desiredState]).sort()).toEqual([
      ['a', TaskState.TASK_STATE_SHUTDOWN],
      ['gone', TaskState.TASK_STATE_SHUTDOWN],
    ]);
  });

  it('rolls a new spec out node by node, within the update parallelism', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const svc = { ...global(), specVersion: 2n };
    const outdated = nodes.map((n) => task({ slot: 0n, nodeId: n.id, specVersion: 1n }));
    // The update starts (its status is written), then moves one node at a time.
    const first = reconcileGlobal(svc, outdated, context(nodes));
    expect(first.services[0]?.updateStatus?.specVersion).toBe(2n);
    expect(first.create).toEqual([]);
    const started = first.services[0]!;
    const next = reconcileGlobal(started, outdated, context(nodes));
    expect(next.update.filter((t) => t.desiredState === TaskState.TASK_STATE_SHUTDOWN)).toHaveLength(1);
    expect(next.create.map((t) => [t.nodeId, t.specVersion])).toEqual([['a', 2n]]);
  });
});
