import { NodeStatus_State, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { rebalanceStep } from './rebalance.js';

describe('rebalancing', () => {
  const nodes = [node('a'), node('b'), node('c')];

  it('moves one task, start-first, from the busiest node when the spread is uneven by more than one', () => {
    const tasks = [1n, 2n, 3n].map((slot) => task({ slot, nodeId: 'a' }));
    const step = rebalanceStep(service(), tasks, context(nodes));
    expect(step.done).toBe(false);
    expect(step.plan.update).toEqual([]);
    expect(step.plan.create.map((t) => [t.slot, t.nodeId])).toEqual([[3n, '']]);
  });

  it('is done when the spread is even within one, or only one node is eligible', () => {
    const even = [task({ slot: 1n, nodeId: 'a' }), task({ slot: 2n, nodeId: 'a' }), task({ slot: 3n, nodeId: 'b' })];
    expect(rebalanceStep(service(), even, context([node('a'), node('b')])).done).toBe(true);
    const lonely = [node('a'), node('b', { state: NodeStatus_State.STATE_DOWN })];
    const step = rebalanceStep(
      service(),
      [1n, 2n, 3n].map((slot) => task({ slot, nodeId: 'a' })),
      context(lonely),
    );
    expect(step).toMatchObject({ done: true, reason: 'fewer than two eligible nodes' });
  });

  it('waits for a move in progress, and calls it off when the new task fits nowhere', () => {
    const old = task({ slot: 3n, nodeId: 'a' });
    const base = [task({ slot: 1n, nodeId: 'a' }), task({ slot: 2n, nodeId: 'a' }), old];
    const starting = task({ slot: 3n, nodeId: 'b', state: TaskState.TASK_STATE_STARTING });
    expect(rebalanceStep(service(), [...base, starting], context(nodes))).toMatchObject({ done: false });
    const stuck = task({
      slot: 3n,
      status: {
        state: TaskState.TASK_STATE_PENDING,
        timestampMs: 1n,
        message: 'no suitable node (x)',
        error: '',
        exitCode: 0,
      },
    });
    const step = rebalanceStep(service(), [...base, stuck], context(nodes));
    expect(step.done).toBe(true);
    expect(step.plan.update.map((t) => [t.id, t.desiredState])).toEqual([[stuck.id, TaskState.TASK_STATE_SHUTDOWN]]);
  });
});
