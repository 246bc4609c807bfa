import { describe, expect, it } from 'vitest';
import { type Node, NodeSpec_Availability, NodeStatus_State, type Task, TaskState } from './gen/flotilla/v1/objects.js';
import { Constraint_Operator } from './gen/flotilla/v1/service.js';
import { firstFailedConstraint, nodeActive, nodeEligible } from './node-match.js';
import { taskEnded, taskHandedToNode, taskLive, taskOccupiesNode, taskPending } from './task-rules.js';

const task = (state: TaskState, desired = TaskState.TASK_STATE_RUNNING, nodeId = 'n1'): Task =>
  ({ nodeId, desiredState: desired, status: { state } }) as Task;
const node = (availability: NodeSpec_Availability, state = NodeStatus_State.STATE_READY, labels = {}): Node =>
  ({ id: 'n1', spec: { availability, labels }, status: { state } }) as unknown as Node;

describe('task rules', () => {
  it('a task has ended once it completed, shut down, failed or was rejected, never by a desired REMOVE', () => {
    expect(taskEnded(task(TaskState.TASK_STATE_RUNNING))).toBe(false);
    for (const s of [
      TaskState.TASK_STATE_COMPLETE,
      TaskState.TASK_STATE_SHUTDOWN,
      TaskState.TASK_STATE_FAILED,
      TaskState.TASK_STATE_REJECTED,
      TaskState.TASK_STATE_ORPHANED,
    ]) {
      expect(taskEnded(task(s))).toBe(true);
    }
    expect(taskEnded(task(TaskState.TASK_STATE_REMOVE))).toBe(false);
    expect(taskEnded({ desiredState: TaskState.TASK_STATE_RUNNING } as Task)).toBe(false);
  });

  it('live, pending, occupying and handed over follow the states the loops rely on', () => {
    expect(taskLive(task(TaskState.TASK_STATE_RUNNING))).toBe(true);
    expect(taskLive(task(TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SHUTDOWN))).toBe(false);
    expect(taskPending(task(TaskState.TASK_STATE_PENDING, TaskState.TASK_STATE_RUNNING, ''))).toBe(true);
    expect(taskPending(task(TaskState.TASK_STATE_PENDING, TaskState.TASK_STATE_SHUTDOWN, ''))).toBe(false);
    expect(taskOccupiesNode(task(TaskState.TASK_STATE_ASSIGNED))).toBe(true);
    expect(taskOccupiesNode(task(TaskState.TASK_STATE_COMPLETE))).toBe(false);
    expect(taskHandedToNode(task(TaskState.TASK_STATE_ASSIGNED))).toBe(true);
    expect(taskHandedToNode(task(TaskState.TASK_STATE_ASSIGNED, TaskState.TASK_STATE_RUNNING, ''))).toBe(false);
    expect(taskHandedToNode(task(TaskState.TASK_STATE_PENDING))).toBe(false);
  });
});

describe('node rules', () => {
  it('a node whose availability was never set is active; pause and drain are not', () => {
    expect(nodeActive(node(NodeSpec_Availability.AVAILABILITY_UNSPECIFIED))).toBe(true);
    expect(nodeActive(node(NodeSpec_Availability.AVAILABILITY_ACTIVE))).toBe(true);
    expect(nodeActive(node(NodeSpec_Availability.AVAILABILITY_PAUSE))).toBe(false);
    expect(nodeActive(node(NodeSpec_Availability.AVAILABILITY_DRAIN))).toBe(false);
  });

  it('a constraint reads the same for the global orchestrator as for the scheduler (trimmed, case-insensitive)', () => {
    const spaced = {
      constraints: [{ field: ' node.labels.zone ', operator: Constraint_Operator.OPERATOR_EQ, value: ' A ' }],
    };
    const active = NodeSpec_Availability.AVAILABILITY_ACTIVE;
    expect(firstFailedConstraint(node(active, NodeStatus_State.STATE_READY, { zone: 'a' }), spaced as never)).toBe(
      undefined,
    );
    expect(firstFailedConstraint(node(active, NodeStatus_State.STATE_READY, { zone: 'b' }), spaced as never)).toBe(
      'node.labels.zone==A',
    );
  });

  it('a global task belongs on an active node that is not down and meets the constraints', () => {
    const zoneA = {
      constraints: [{ field: 'node.labels.zone', operator: Constraint_Operator.OPERATOR_EQ, value: 'a' }],
    };
    const active = NodeSpec_Availability.AVAILABILITY_ACTIVE;
    expect(nodeEligible(node(active, NodeStatus_State.STATE_READY, { zone: 'a' }), zoneA as never)).toBe(true);
    expect(nodeEligible(node(active, NodeStatus_State.STATE_UNKNOWN, { zone: 'a' }), zoneA as never)).toBe(true);
    expect(nodeEligible(node(active, NodeStatus_State.STATE_DOWN, { zone: 'a' }), zoneA as never)).toBe(false);
    expect(nodeEligible(node(active, NodeStatus_State.STATE_READY, { zone: 'b' }), zoneA as never)).toBe(false);
    expect(nodeEligible(node(NodeSpec_Availability.AVAILABILITY_DRAIN), undefined)).toBe(false);
  });
});
