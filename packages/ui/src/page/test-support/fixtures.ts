/* Made-up cluster pictures in the contract's shapes, for the page's browser tests. */
import type { StreamSnapshot, UiNode, UiSample, UiService, UiTask } from '../../model.js';

const GiB = 1024 ** 3;
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

export function node(i: number, over: Partial<UiNode> = {}): UiNode {
  const manager = i === 0;
  return {
    id: `node${String(i).padStart(4, '0')}`,
    hostname: `host-${String(i).padStart(4, '0')}`,
    role: manager ? 'manager' : 'worker',
    status: 'ready',
    availability: 'active',
    managerStatus: manager ? 'Leader' : '',
    address: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    labels: { zone: i % 2 ? 'b' : 'a' },
    executor: 'containerd',
    capacity: { nanoCpus: 4e9, memoryBytes: 8 * GiB },
    reserved: { nanoCpus: (i % 4) * 0.5e9, memoryBytes: (i % 5) * GiB },
    updatedAt: T0,
    ...over,
  };
}

export function service(i: number, over: Partial<UiService> = {}): UiService {
  const name = ['api', 'web', 'worker', 'cache', 'db'][i % 5] + (i >= 5 ? String(i) : '');
  return {
    id: `svc${String(i).padStart(3, '0')}`,
    name,
    stack: 'shop',
    mode: 'replicated',
    image: `registry.local/${name}:1.${i}`,
    running: 0,
    desired: 0,
    completed: 0,
    completions: 0,
    ports: i === 1 ? '*:8080->80/tcp' : '',
    specVersion: 3,
    update: {
      state: i === 0 ? 'updating' : i === 2 ? 'paused' : 'completed',
      message: i === 2 ? 'task failed: exit 1' : '',
      startedAt: T0 - 60_000,
      completedAt: 0,
      specVersion: 3,
      slotsDone: 3,
      slotsTotal: 8,
      parallelism: 2,
    },
    revisions: [
      { specVersion: 3, replacedAt: 0, image: `registry.local/${name}:1.${i}` },
      { specVersion: 2, replacedAt: T0 - 120_000, image: `registry.local/${name}:1.0` },
    ],
    lastChange: [`container.image: registry.local/${name}:1.0 → registry.local/${name}:1.${i}`],
    updatedAt: T0,
    ...over,
  };
}

export function task(id: string, svc: UiService, slot: number, nodeId: string, over: Partial<UiTask> = {}): UiTask {
  return {
    id,
    serviceId: svc.id,
    serviceName: svc.name,
    slot,
    name: `${svc.name}.${slot}`,
    nodeId,
    state: nodeId ? 'running' : 'pending',
    desiredState: 'running',
    health: '',
    exitCode: 0,
    error: '',
    message: nodeId ? 'started' : 'no suitable node (insufficient memory on 3 nodes)',
    image: svc.image,
    specVersion: svc.specVersion,
    stateSince: T0,
    createdAt: T0,
    mainTaskId: '',
    ...over,
  };
}

/**
 * `nodes` nodes, `services` services, and `perNode` tasks on each node spread over the services, plus one
 * pending task; one unhealthy and one failed task so every tone is on the board.
 */
export function snapshot(opts: { nodes: number; services: number; perNode: number }): StreamSnapshot {
  const nodes = Array.from({ length: opts.nodes }, (_, i) => node(i));
  const services = Array.from({ length: opts.services }, (_, i) => service(i));
  const tasks: UiTask[] = [];
  const slots = new Map<string, number>();
  for (const n of nodes) {
    for (let k = 0; k < opts.perNode; k++) {
      const svc = services[(tasks.length + k) % services.length] as UiService;
      const slot = (slots.get(svc.id) ?? 0) + 1;
      slots.set(svc.id, slot);
      tasks.push(task(`t${String(tasks.length).padStart(6, '0')}`, svc, slot, n.id));
    }
  }
  const first = services[0] as UiService;
  tasks.push(task('tpending', first, (slots.get(first.id) ?? 0) + 1, ''));
  if (tasks.length > 3) {
    tasks[1] = { ...(tasks[1] as UiTask), health: 'unhealthy' };
    tasks[2] = { ...(tasks[2] as UiTask), state: 'failed', exitCode: 137, error: 'task: non-zero exit (137)' };
  }
  for (const svc of services) {
    svc.desired = (slots.get(svc.id) ?? 0) + (svc === first ? 1 : 0);
    svc.running = tasks.filter((t) => t.serviceId === svc.id && t.state === 'running').length;
  }
  const samples: UiSample[] = Array.from({ length: 12 }, (_, k) => ({
    at: T0 - (12 - k) * 5_000,
    running: Object.fromEntries(services.map((s, i) => [s.id, Math.max(0, s.running - ((k + i) % 4))])),
  }));
  return {
    cluster: {
      id: 'cluster1',
      managers: [{ id: 'node0000', address: '198.18.0.1:4242', leader: true, reachable: true }],
    },
    nodes,
    services,
    tasks,
    samples,
    events: [
      { at: T0 - 30_000, type: 'service', action: 'update', actor: 'api', message: 'image registry.local/api:1.0' },
      { at: T0 - 10_000, type: 'task', action: 'failed', actor: 'cache.1', message: 'exit 137' },
    ],
    eventsAvailable: true,
  };
}
