import {
  Node,
  NodeSpec_Availability,
  NodeStatus_State,
  Service,
  ServiceMode,
  Task,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { nodeEvents, serviceEvents, taskEvents, taskStateName } from './event-derivation.js';

const at = 1_700_000_000_000;

function service(overrides: { version?: bigint; replicas?: bigint; image?: string; env?: string[] } = {}): Service {
  return Service.fromPartial({
    id: 's1',
    specVersion: overrides.version ?? 1n,
    spec: {
      annotations: { name: 'web_app' },
      mode: ServiceMode.SERVICE_MODE_REPLICATED,
      replicas: overrides.replicas ?? 2n,
      container: { image: overrides.image ?? 'nginx:1', env: overrides.env ?? ['TOKEN=hunter2'] },
    },
  });
}

function withUpdate(s: Service, state: UpdateStatus_State, message = ''): Service {
  return { ...s, updateStatus: { state, startedAtMs: 1n, completedAtMs: 0n, message, specVersion: s.specVersion } };
}

function task(state: TaskState, extra: Partial<Task> = {}): Task {
  return Task.fromPartial({
    id: 't1',
    serviceId: 's1',
    serviceName: 'web_app',
    slot: 2n,
    nodeId: 'n1',
    status: { state, message: `now ${TaskState[state]}`, exitCode: 0 },
    ...extra,
  });
}

function node(state: NodeStatus_State, availability = NodeSpec_Availability.AVAILABILITY_ACTIVE): Node {
  return Node.fromPartial({
    id: 'n1',
    description: { hostname: 'host-1' },
    spec: { availability },
    status: { state, message: state === NodeStatus_State.STATE_READY ? '' : 'no heartbeat', address: '198.18.0.2' },
  });
}

describe('serviceEvents', () => {
  it('says a service was created, with its version and replicas', () => {
    expect(serviceEvents(undefined, service(), at)).toEqual([
      {
        type: 'service.changed',
        serviceId: 's1',
        serviceName: 'web_app',
        action: 'created',
        version: 1,
        replicas: 2,
        at,
      },
    ]);
  });

  it('says a service was updated when its spec version moves', () => {
    const next = withUpdate(service({ version: 2n, image: 'nginx:2' }), UpdateStatus_State.STATE_UPDATING);
    expect(serviceEvents(service(), next, at)).toMatchObject([{ action: 'updated', version: 2 }]);
  });

  it('says a scale is an update, though the version stays', () => {
    expect(serviceEvents(service(), service({ replicas: 5n }), at)).toMatchObject([
      { type: 'service.changed', action: 'updated', version: 1, replicas: 5 },
    ]);
  });

  it('says a service was rolled back when the new version starts a rollback', () => {
    const updating = withUpdate(service({ version: 2n }), UpdateStatus_State.STATE_UPDATING);
    const back = withUpdate(service({ version: 3n }), UpdateStatus_State.STATE_ROLLBACK_STARTED, 'rollback');
    expect(serviceEvents(updating, back, at)).toMatchObject([{ action: 'rolled_back', version: 3 }]);
  });

  it("reports a rollout's progress when it moves without a new version", () => {
    const updating = withUpdate(service({ version: 2n }), UpdateStatus_State.STATE_UPDATING);
    const done = withUpdate(service({ version: 2n }), UpdateStatus_State.STATE_COMPLETED, 'update completed');
    expect(serviceEvents(updating, done, at)).toEqual([
      {
        type: 'service.update',
        serviceId: 's1',
        serviceName: 'web_app',
        state: 'completed',
        version: 2,
        message: 'update completed',
        at,
      },
    ]);
  });

  it('says a service was removed', () => {
    expect(serviceEvents(service(), undefined, at)).toMatchObject([{ action: 'removed', serviceName: 'web_app' }]);
  });

  it('says nothing when nothing a user sees changed', () => {
    expect(serviceEvents(service(), { ...service(), updatedAtMs: 5n }, at)).toEqual([]);
    expect(serviceEvents(undefined, undefined, at)).toEqual([]);
  });

  it('never carries the environment or anything else the tasks run with', () => {
    const all = [
      ...serviceEvents(undefined, service(), at),
      ...serviceEvents(service(), service({ version: 2n, env: ['TOKEN=other'] }), at),
    ];
    expect(JSON.stringify(all)).not.toMatch(/hunter2|other|TOKEN|nginx/);
  });

  it('leaves replicas out for global services', () => {
    const global = Service.fromPartial({
      ...service(),
      spec: { ...service().spec, mode: ServiceMode.SERVICE_MODE_GLOBAL },
    });
    expect(serviceEvents(undefined, global, at)[0]).not.toHaveProperty('replicas');
  });
});

describe('taskEvents', () => {
  it('reports a state change with the node, the slot and the service', () => {
    expect(taskEvents(task(TaskState.TASK_STATE_STARTING), task(TaskState.TASK_STATE_RUNNING), at)).toEqual([
      {
        type: 'task.state',
        taskId: 't1',
        serviceId: 's1',
        nodeId: 'n1',
        from: 'starting',
        to: 'running',
        message: 'now TASK_STATE_RUNNING',
        serviceName: 'web_app',
        slot: 2,
        at,
      },
    ]);
  });

  it('carries the exit code and the error once the task ended', () => {
    const failed = task(TaskState.TASK_STATE_FAILED, {
      status: { state: TaskState.TASK_STATE_FAILED, exitCode: 137, error: 'killed', message: 'x', timestampMs: 1n },
    });
    expect(taskEvents(task(TaskState.TASK_STATE_RUNNING), failed, at)).toMatchObject([
      { from: 'running', to: 'failed', exitCode: 137, message: 'killed' },
    ]);
  });

  it('reports a new task from new', () => {
    expect(taskEvents(undefined, task(TaskState.TASK_STATE_PENDING, { nodeId: '' }), at)).toMatchObject([
      { from: 'new', to: 'pending', nodeId: '' },
    ]);
  });

  it('says nothing when only the desired state or the health changed, or the task was deleted', () => {
    const running = task(TaskState.TASK_STATE_RUNNING);
    expect(taskEvents(running, { ...running, desiredState: TaskState.TASK_STATE_SHUTDOWN }, at)).toEqual([]);
    expect(taskEvents(running, undefined, at)).toEqual([]);
    expect(taskEvents(running, task(TaskState.TASK_STATE_UNSPECIFIED), at)).toEqual([]);
  });

  it('clips a long message', () => {
    const long = task(TaskState.TASK_STATE_FAILED, {
      status: {
        state: TaskState.TASK_STATE_FAILED,
        error: 'e'.repeat(5000),
        message: '',
        exitCode: 1,
        timestampMs: 1n,
      },
    });
    const [event] = taskEvents(undefined, long, at);
    expect(event && 'message' in event && event.message.length).toBe(512);
  });

  it('names states as the event log does', () => {
    expect(taskStateName(TaskState.TASK_STATE_RUNNING)).toBe('running');
    expect(taskStateName(TaskState.TASK_STATE_UNSPECIFIED)).toBeUndefined();
    expect(taskStateName(undefined)).toBeUndefined();
  });
});

describe('nodeEvents', () => {
  it('says a node became ready, with its address', () => {
    const ready = node(NodeStatus_State.STATE_READY);
    expect(nodeEvents(node(NodeStatus_State.STATE_UNKNOWN), ready, at)).toEqual([
      { type: 'node.up', nodeId: 'n1', hostname: 'host-1', address: '198.18.0.2', at },
    ]);
    expect(nodeEvents(undefined, ready, at)).toMatchObject([{ type: 'node.up' }]);
  });

  it.each([
    [NodeStatus_State.STATE_DOWN, 'down'],
    [NodeStatus_State.STATE_UNKNOWN, 'unknown'],
    [NodeStatus_State.STATE_DISCONNECTED, 'disconnected'],
  ])('says a ready node went %s', (state, name) => {
    expect(nodeEvents(node(NodeStatus_State.STATE_READY), node(state), at)).toEqual([
      { type: 'node.down', nodeId: 'n1', hostname: 'host-1', reason: 'no heartbeat', state: name, at },
    ]);
  });

  it('says a node was drained, and made active again', () => {
    const ready = node(NodeStatus_State.STATE_READY);
    const drained = node(NodeStatus_State.STATE_READY, NodeSpec_Availability.AVAILABILITY_DRAIN);
    expect(nodeEvents(ready, drained, at)).toEqual([
      { type: 'node.availability', nodeId: 'n1', hostname: 'host-1', availability: 'drain', at },
    ]);
    expect(nodeEvents(drained, ready, at)).toMatchObject([{ availability: 'active' }]);
  });

  it('says a node was removed', () => {
    expect(nodeEvents(node(NodeStatus_State.STATE_DOWN), undefined, at)).toMatchObject([
      { type: 'node.down', state: 'removed' },
    ]);
  });

  it('says nothing of a new node not yet ready, nor of a heartbeat', () => {
    expect(nodeEvents(undefined, node(NodeStatus_State.STATE_UNKNOWN), at)).toEqual([]);
    const ready = node(NodeStatus_State.STATE_READY);
    const beat = { ...ready, status: { ...ready.status, lastHeartbeatMs: 99n } } as Node;
    expect(nodeEvents(ready, beat, at)).toEqual([]);
  });
});
