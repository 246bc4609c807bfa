import {
  Node,
  NodeStatus_State,
  Service,
  ServiceMode,
  ServiceSpec,
  Task,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { ClusterState } from './cluster-state.js';
import { lastChange } from './convert.js';

const spec = (image: string, env: string[], replicas = 3n) =>
  ServiceSpec.fromPartial({
    annotations: { name: 'app_web' },
    stack: 'app',
    mode: ServiceMode.SERVICE_MODE_REPLICATED,
    replicas,
    container: { image, env },
    updateConfig: { parallelism: 1n },
  });

const task = (id: string, slot: bigint, version: bigint, state: TaskState, nodeId = 'n1') =>
  Task.fromPartial({
    id,
    serviceId: 's1',
    serviceName: 'app_web',
    slot,
    nodeId,
    specVersion: version,
    desiredState:
      state === TaskState.TASK_STATE_SHUTDOWN ? TaskState.TASK_STATE_SHUTDOWN : TaskState.TASK_STATE_RUNNING,
    status: { state, timestampMs: 5n },
    resources: { reservations: { nanoCpus: 500_000_000n, memoryBytes: 64n * 1024n * 1024n } },
  });

describe('the UI state', () => {
  it('counts running, desired and update progress from the tasks, and reserved resources per node', () => {
    const state = new ClusterState();
    state.reset({
      nodes: [
        Node.fromPartial({
          id: 'n1',
          description: { hostname: 'h1' },
          status: { state: NodeStatus_State.STATE_READY },
        }),
      ],
      services: [
        Service.fromPartial({
          id: 's1',
          spec: spec('web:2', ['TOKEN=two']),
          previousSpec: spec('web:1', ['TOKEN=one']),
          specVersion: 2n,
          updateStatus: { state: UpdateStatus_State.STATE_UPDATING, specVersion: 2n },
        }),
      ],
      tasks: [
        task('t1', 1n, 2n, TaskState.TASK_STATE_RUNNING),
        task('t2', 2n, 1n, TaskState.TASK_STATE_RUNNING),
        task('t3', 3n, 2n, TaskState.TASK_STATE_STARTING),
        task('t0', 3n, 1n, TaskState.TASK_STATE_SHUTDOWN),
      ],
    });
    const { services, nodes, tasks } = state.view();
    expect(services[0]).toMatchObject({
      running: 2,
      desired: 3,
      update: { state: 'updating', specVersion: 2, slotsDone: 1, slotsTotal: 3, parallelism: 1 },
      lastChange: ['container.image: web:1 → web:2', 'container.env.TOKEN: (set) → (changed)'],
    });
    // The shut-down task reserves nothing any more.
    expect(nodes[0]?.reserved).toEqual({ nanoCpus: 1_500_000_000, memoryBytes: 3 * 64 * 1024 * 1024 });
    expect(tasks.find((t) => t.id === 't1')).toMatchObject({ name: 'app_web.1', state: 'running', nodeId: 'n1' });

    // A task change re-converts the task, its service and its node only.
    state.apply({
      kind: 'tasks',
      id: 't3',
      deleted: false,
      revision: 9n,
      task: task('t3', 3n, 2n, TaskState.TASK_STATE_RUNNING),
    });
    const changes = state.flush();
    expect(changes.tasks.map((c) => c.op === 'put' && c.object.state)).toEqual(['running']);
    expect(changes.services.map((c) => c.op === 'put' && c.object.update.slotsDone)).toEqual([2]);
    expect(changes.nodes).toHaveLength(1);
    expect(state.flush()).toEqual({ nodes: [], services: [], tasks: [] });

    state.apply({ kind: 'tasks', id: 't2', deleted: true, revision: 10n });
    const removed = state.flush();
    expect(removed.tasks).toEqual([{ op: 'delete', id: 't2' }]);
    expect(removed.nodes[0]?.op === 'put' && removed.nodes[0].object.reserved.nanoCpus).toBe(1_000_000_000);
  });

  it('in a cluster of 1,000 nodes and 10,000 tasks, sends one message per object a change touches', () => {
    const state = new ClusterState();
    const nodes = Array.from({ length: 1_000 }, (_, i) => Node.fromPartial({ id: `n${i}` }));
    const services = Array.from({ length: 100 }, (_, i) =>
      Service.fromPartial({ id: `s${i}`, spec: spec(`img:${i}`, []), specVersion: 1n }),
    );
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({
      ...task(`t${i}`, BigInt((i % 100) + 1), 1n, TaskState.TASK_STATE_RUNNING, `n${i % 1_000}`),
      serviceId: `s${Math.floor(i / 100)}`,
    }));
    state.reset({ nodes, services, tasks });
    expect(state.view().tasks).toHaveLength(10_000);
    for (let i = 0; i < 50; i++) {
      // A burst: the same task changing again and again within one flush is one message.
      const t = { ...(tasks[42] as Task), status: { ...(tasks[42] as Task).status, timestampMs: BigInt(i) } };
      state.apply({ kind: 'tasks', id: 't42', deleted: false, revision: BigInt(100 + i), task: t as Task });
    }
    const changes = state.flush();
    expect(changes.tasks).toHaveLength(1);
    expect(changes.services).toHaveLength(1);
    expect(changes.nodes).toHaveLength(1);
    // What the page holds is still the whole cluster.
    expect(state.view().tasks).toHaveLength(10_000);
  });

  it('never shows an environment value in the last change', () => {
    const lines = lastChange(
      spec('a', ['A=secret-1', 'B=same', 'C=gone']),
      spec('a', ['A=secret-2', 'B=same', 'D=new']),
    );
    expect(lines).toEqual([
      'container.env.A: (set) → (changed)',
      'container.env.C: (set) → (none)',
      'container.env.D: (none) → (set)',
    ]);
    expect(lines.join('\n')).not.toMatch(/secret-|same|gone|new\b/);
    expect(lastChange(undefined, spec('a', []))).toEqual([]);
  });
});
