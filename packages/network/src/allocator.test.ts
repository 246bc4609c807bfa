import {
  type Allocation,
  EndpointSpec_Mode,
  Network,
  Node,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Service,
  Task,
  TaskState,
} from '@flotilla/api';
import type { Versioned, Write } from '@flotilla/store';
import { describe, expect, it } from 'vitest';
import { type AllocatorState, planAllocations } from './allocator.js';

let ids = 0;
const make = () => ({ now: 1000n, newId: () => `id${++ids}`, cursors: new Map<string, number>() });
const v = <T>(id: string, value: T, version = 1n): Versioned<T> => ({ id, value, version });

function network(id: string, name: string, extra: Partial<Network> = {}): Versioned<Network> {
  return v(id, Network.fromPartial({ id, spec: { annotations: { name } }, ...extra }));
}

function service(id: string, networks: string[], extra: object = {}) {
  return v(
    id,
    Service.fromPartial({
      id,
      spec: { annotations: { name: `s_${id}` }, networks: networks.map((target) => ({ target, aliases: [id] })) },
      ...(extra as Record<string, never>),
    }),
  );
}

function task(id: string, serviceId: string, state = TaskState.TASK_STATE_NEW, extra: Partial<Task> = {}) {
  return v(
    id,
    Task.fromPartial({ id, serviceId, desiredState: TaskState.TASK_STATE_RUNNING, status: { state }, ...extra }),
  );
}

/** Applies a plan's writes to the state, as the store would. */
function apply(state: AllocatorState, writes: Write[]): AllocatorState {
  const next = {
    networks: new Map(state.networks.map((x) => [x.id, x])),
    services: new Map(state.services.map((x) => [x.id, x])),
    tasks: new Map(state.tasks.map((x) => [x.id, x])),
    nodes: new Map(state.nodes.map((x) => [x.id, x])),
    allocations: new Map(state.allocations.map((x) => [x.id, x])),
  } as Record<string, Map<string, Versioned<unknown>>>;
  for (const w of writes) {
    const map = next[w.kind] as Map<string, Versioned<unknown>>;
    if (w.op === 'create') expect(map.has(w.id), `${w.kind}/${w.id} created twice`).toBe(false);
    if (w.op === 'delete') map.delete(w.id);
    else map.set(w.id, { id: w.id, value: w.value, version: (map.get(w.id)?.version ?? 0n) + 1n });
  }
  return Object.fromEntries(Object.entries(next).map(([k, m]) => [k, [...m.values()]])) as unknown as AllocatorState;
}

/** Plans until nothing more is written (at most 5 passes). */
function settle(state: AllocatorState, opts = make()): AllocatorState {
  let current = state;
  for (let i = 0; i < 5; i++) {
    const plan = planAllocations(current, opts);
    if (plan.writes.length === 0) return current;
    current = apply(current, plan.writes);
  }
  throw new Error('the allocator did not settle');
}

const empty: AllocatorState = { networks: [], services: [], tasks: [], nodes: [], allocations: [] };
const owners = (s: AllocatorState) => new Map(s.allocations.map((a) => [a.id, (a.value as Allocation).owner]));

describe('planAllocations', () => {
  it('makes the ingress network once and gives networks distinct subnets and VXLAN IDs', () => {
    const state = settle({ ...empty, networks: [network('a', 'st_default'), network('b', 'st_back')] });
    const ingress = state.networks.find((n) => n.value.ingress)?.value;
    expect(ingress?.subnet).toBe('10.42.0.0/20');
    const a = state.networks.find((n) => n.id === 'a')?.value;
    const b = state.networks.find((n) => n.id === 'b')?.value;
    expect([a?.subnet, b?.subnet]).toEqual(['10.42.16.0/24', '10.42.17.0/24']);
    expect(a?.gateway).toBe('10.42.16.1');
    expect(new Set([ingress?.vni, a?.vni, b?.vni]).size).toBe(3);
    expect(state.networks.filter((n) => n.value.ingress)).toHaveLength(1);
  });

  it('honours an explicit subnet and gateway, and refuses one that overlaps', () => {
    const ok = network('a', 'st_a', {
      spec: {
        annotations: { name: 'st_a' },
        ipam: [{ subnet: '10.50.0.0/16', gateway: '10.50.0.254' }],
      } as Network['spec'],
    });
    const clash = network('b', 'st_b', {
      spec: { annotations: { name: 'st_b' }, ipam: [{ subnet: '10.50.3.0/24' }] } as Network['spec'],
    });
    const state = settle({ ...empty, networks: [ok, clash] });
    expect(state.networks.find((n) => n.id === 'a')?.value).toMatchObject({
      subnet: '10.50.0.0/16',
      gateway: '10.50.0.254',
    });
    const b = state.networks.find((n) => n.id === 'b')?.value;
    expect(b?.subnet).toBe('');
    expect(b?.error).toMatch(/overlaps 10\.50\.0\.0\/16/);
  });

  it('gives new tasks an address on each network, then hands them to the scheduler', () => {
    const state = settle({
      ...empty,
      networks: [network('a', 'st_default')],
      services: [service('web', ['st_default'])],
      tasks: [task('t1', 'web'), task('t2', 'web')],
    });
    const t1 = state.tasks.find((t) => t.id === 't1')?.value as Task;
    const t2 = state.tasks.find((t) => t.id === 't2')?.value as Task;
    expect(t1.status?.state).toBe(TaskState.TASK_STATE_PENDING);
    expect(t1.networks).toEqual([{ networkId: 'a', address: '10.42.16.2/24', aliases: ['web'] }]);
    expect(t2.networks[0]?.address).toBe('10.42.16.3/24');
    expect(owners(state).get('ip~a~10.42.16.2')).toBe('tasks/t1');
    const web = state.services.find((s) => s.id === 'web')?.value as Service;
    expect(web.virtualIp).toBe('10.43.0.1');
  });

  it('keeps a task waiting, with the reason, while its network has no subnet', () => {
    const plan = planAllocations(
      { ...empty, services: [service('web', ['st_missing'])], tasks: [task('t1', 'web')] },
      make(),
    );
    const write = plan.writes.find((w) => w.kind === 'tasks');
    expect((write as { value: Task }).value.status).toMatchObject({
      state: TaskState.TASK_STATE_NEW,
      message: 'waiting for network st_missing',
    });
  });

  it('releases the address of an ended task and does not give it again at once', () => {
    const opts = make();
    let state = settle(
      {
        ...empty,
        networks: [network('a', 'st_default')],
        services: [service('web', ['st_default'])],
        tasks: [task('t1', 'web')],
      },
      opts,
    );
    const t1 = state.tasks[0] as Versioned<Task>;
    state = {
      ...state,
      tasks: [
        {
          ...t1,
          value: { ...t1.value, status: { ...t1.value.status, state: TaskState.TASK_STATE_FAILED } as Task['status'] },
        },
      ],
    };
    state = settle({ ...state, tasks: [...state.tasks, task('t2', 'web')] }, opts);
    expect(owners(state).has('ip~a~10.42.16.2')).toBe(false);
    expect(state.tasks.find((t) => t.id === 't2')?.value.networks[0]?.address).toBe('10.42.16.3/24');
  });

  it('releases what a removed service held, and a removed network only after its last address', () => {
    let state = settle({
      ...empty,
      networks: [network('a', 'st_default')],
      services: [service('web', ['st_default'])],
      tasks: [task('t1', 'web')],
    });
    state = settle({ ...state, services: [], networks: state.networks.filter((n) => n.id !== 'a') });
    // The task has not ended: its address, and so the network's subnet and VXLAN ID, stay taken.
    expect([...owners(state).keys()].filter((k) => k.startsWith('vip~'))).toEqual([]);
    expect(owners(state).get('subnet~10.42.16.0~24')).toBe('networks/a');
    state = settle({ ...state, tasks: [] });
    expect(owners(state).has('subnet~10.42.16.0~24')).toBe(false);
    expect(owners(state).has('ip~a~10.42.16.2')).toBe(false);
  });

  it('publishes ports: the asked number, one from the pool when none, and never one taken by another service', () => {
    const ports = (published: number) => ({
      spec: {
        annotations: { name: 'x' },
        networks: [],
        endpoint: {
          ports: [
            {
              protocol: PortConfig_Protocol.PROTOCOL_TCP,
              targetPort: 80,
              publishedPort: published,
              publishMode: PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
            },
          ],
        },
      },
    });
    const state = settle({
      ...empty,
      services: [service('a', [], ports(8080)), service('b', [], ports(0)), service('c', [], ports(8080))],
      tasks: [task('t1', 'a')],
    });
    const a = state.services.find((s) => s.id === 'a')?.value as Service;
    const b = state.services.find((s) => s.id === 'b')?.value as Service;
    const c = state.services.find((s) => s.id === 'c')?.value as Service;
    expect(a.endpointPorts.map((p) => p.publishedPort)).toEqual([8080]);
    expect(b.endpointPorts.map((p) => p.publishedPort)).toEqual([30000]);
    expect(c.endpointPorts).toEqual([]);
    const plan = planAllocations(state, make());
    expect(plan.problems.join('\n')).toMatch(/port 8080\/tcp is already published by services\/a/);
    // A task of a service with a published port joins the ingress network.
    const t1 = state.tasks[0]?.value as Task;
    const ingress = state.networks.find((n) => n.value.ingress)?.id;
    expect(t1.networks.map((n) => n.networkId)).toEqual([ingress]);
  });

  it('gives every node an address on the ingress network', () => {
    const state = settle({
      ...empty,
      nodes: [v('n1', Node.fromPartial({ id: 'n1' })), v('n2', Node.fromPartial({ id: 'n2' }))],
    });
    const addresses = state.nodes.map((n) => (n.value as Node).ingressAddress);
    expect(addresses).toEqual(['10.42.0.2/20', '10.42.0.3/20']);
  });

  it('gives no virtual IP to a dnsrr service nor any address to a host-network one', () => {
    const state = settle({
      ...empty,
      networks: [network('a', 'st_default')],
      services: [
        service('rr', ['st_default'], {
          spec: {
            annotations: { name: 'rr' },
            networks: [{ target: 'st_default' }],
            endpoint: { mode: EndpointSpec_Mode.MODE_DNSRR },
          },
        }),
        service('host', [], { spec: { annotations: { name: 'host' }, container: { hostNetwork: true } } }),
      ],
      tasks: [task('t1', 'host')],
    });
    expect(state.services.map((s) => (s.value as Service).virtualIp)).toEqual(['', '']);
    expect(state.tasks[0]?.value).toMatchObject({ networks: [], status: { state: TaskState.TASK_STATE_PENDING } });
  });

  it('never gives an address twice, even to many tasks at once', () => {
    const tasks = Array.from({ length: 200 }, (_, i) => task(`t${i}`, 'web'));
    const state = settle({
      ...empty,
      networks: [network('a', 'st_default')],
      services: [service('web', ['st_default'])],
      tasks,
    });
    const addresses = state.tasks.map((t) => (t.value as Task).networks[0]?.address);
    expect(new Set(addresses).size).toBe(200);
  });
});
