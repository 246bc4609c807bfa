import {
  Network,
  NetworkSpec,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Service,
  ServiceMode,
  ServiceSpec,
  StackSpec,
  UpdateConfig,
  UpdateConfig_Order,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import {
  checkAddresses,
  checkNetworkRoom,
  decideStack,
  networkWrites,
  STACK_LABEL,
  taskChange,
} from './stack-changes.js';

describe('taskChange', () => {
  const spec = (labels: Record<string, string>, replicas = 2n, image = 'app:1') =>
    ServiceSpec.fromPartial({ replicas, container: { image, labels, sysctls: { b: '1', a: '2' } } });

  it('is none for the same spec written with its maps in another order', () => {
    expect(taskChange(spec({ x: '1', y: '2' }), spec({ y: '2', x: '1' }))).toBe('none');
  });

  it('is scaled for a replica change alone, replaced for anything tasks run', () => {
    expect(taskChange(spec({}), spec({}, 5n))).toBe('scaled');
    expect(taskChange(spec({}), spec({}, 2n, 'app:2'))).toBe('replaced');
    expect(taskChange(spec({ x: '1' }), spec({ x: '2' }))).toBe('replaced');
    expect(taskChange(undefined, spec({}))).toBe('replaced');
  });

  it("keeps the tasks when only the service's own labels or its update and rollback settings change", () => {
    const base = spec({ c: '1' });
    const withService = (s: ServiceSpec, labels: Record<string, string>) => ({
      ...s,
      annotations: { name: 'shop_web', labels },
    });
    expect(taskChange(withService(base, { a: '1' }), withService(base, { a: '2' }))).toBe('kept');
    expect(
      taskChange(base, {
        ...base,
        updateConfig: UpdateConfig.fromPartial({ parallelism: 3n, order: UpdateConfig_Order.ORDER_START_FIRST }),
      }),
    ).toBe('kept');
    expect(taskChange(base, { ...base, rollbackConfig: UpdateConfig.fromPartial({ parallelism: 1n }) })).toBe('kept');
    // Scaled as well: still no task replaced.
    expect(taskChange(withService(base, {}), withService(spec({ c: '1' }, 4n), { a: '1' }))).toBe('scaled');
    // What must not be kept: the container's labels, the name, anything else the tasks run, and any change of a job.
    expect(taskChange(withService(base, { a: '1' }), withService(spec({ c: '2' }), { a: '1' }))).toBe('replaced');
    expect(taskChange(withService(base, {}), { ...base, annotations: { name: 'shop_api', labels: {} } })).toBe(
      'replaced',
    );
    const job = { ...base, mode: ServiceMode.SERVICE_MODE_REPLICATED_JOB };
    expect(taskChange(withService(job, { a: '1' }), withService(job, { a: '2' }))).toBe('replaced');
  });
});

describe('stack networks and published ports', () => {
  const make = { now: 1n, newId: () => 'net1' };
  const network = (name: string, labels: Record<string, string> = {}, external = false) =>
    NetworkSpec.fromPartial({ annotations: { name, labels }, driver: 'overlay', external });
  const stored = (id: string, spec: NetworkSpec, ingress = false) => ({
    id,
    version: 1n,
    value: Network.fromPartial({ id, spec, ingress }),
  });
  const service = (
    name: string,
    stack: string,
    published: number,
    mode = PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
  ) =>
    ServiceSpec.fromPartial({
      annotations: { name },
      stack,
      endpoint: {
        ports: [
          { protocol: PortConfig_Protocol.PROTOCOL_TCP, targetPort: 80, publishedPort: published, publishMode: mode },
        ],
      },
    });
  const stackOf = (name: string, services: ServiceSpec[], networks: NetworkSpec[] = []) =>
    StackSpec.fromPartial({ name, services, networks });

  it('creates the stack networks that do not exist and keeps those that do', () => {
    const mine = network('st_default', { [STACK_LABEL]: 'st' });
    const writes = networkWrites(
      [stored('old', network('st_back', { [STACK_LABEL]: 'st' }))],
      stackOf('st', [], [mine, network('st_back', { [STACK_LABEL]: 'st' })]),
      make,
    );
    expect(writes.map((w) => [w.op, w.kind, w.id])).toEqual([['create', 'networks', 'net1']]);
  });

  it('refuses a missing external network and a name another stack or the ingress network holds', () => {
    expect(() => networkWrites([], stackOf('st', [], [network('shared', {}, true)]), make)).toThrow(
      /external but does not exist/,
    );
    expect(() =>
      networkWrites(
        [stored('x', network('st_default', { [STACK_LABEL]: 'other' }))],
        stackOf('st', [], [network('st_default')]),
        make,
      ),
    ).toThrow(/already exists in stack other/);
    expect(() =>
      networkWrites([stored('i', network('ingress'), true)], stackOf('st', [], [network('ingress')]), make),
    ).toThrow(/already exists/);
  });

  it('refuses a subnet that is not one, or that overlaps a network of the cluster', () => {
    const withSubnet = (subnet: string, gateway = '') =>
      NetworkSpec.fromPartial({ annotations: { name: 'st_x' }, ipam: [{ subnet, gateway }] });
    const taken = [
      { id: 'n', version: 1n, value: Network.fromPartial({ id: 'n', spec: network('other'), subnet: '10.50.0.0/16' }) },
    ];
    expect(() => networkWrites([], stackOf('st', [], [withSubnet('10.60.0.7/24')]), make)).toThrow(/host bits set/);
    expect(() => networkWrites([], stackOf('st', [], [withSubnet('banana')]), make)).toThrow(/not an IPv4 subnet/);
    expect(() => networkWrites(taken, stackOf('st', [], [withSubnet('10.50.3.0/24')]), make)).toThrow(
      /overlaps 10\.50\.0\.0\/16 of network other/,
    );
    expect(() => networkWrites([], stackOf('st', [], [withSubnet('10.60.0.0/24', '10.61.0.1')]), make)).toThrow(
      /gateway 10\.61\.0\.1 is not in/,
    );
    expect(networkWrites(taken, stackOf('st', [], [withSubnet('10.60.0.0/24', '10.60.0.254')]), make)).toHaveLength(1);
  });

  it('joins a network made by network create only as external, writing it back when a service joins it', () => {
    const made = [stored('made', network('shared'))];
    expect(() => networkWrites(made, stackOf('st', [], [network('shared')]), make)).toThrow(
      /already exists outside any stack .*external: true/,
    );
    const external = stackOf('st', [], [network('shared', {}, true)]);
    // Written back at the version read, so a removal decided meanwhile and this deploy cannot both land.
    expect(networkWrites(made, external, make, new Set(['shared']))).toEqual([
      { op: 'update', kind: 'networks', id: 'made', value: made[0]?.value, version: 1n },
    ]);
    // No service of the deploy joins it: nothing to write.
    expect(networkWrites(made, external, make)).toEqual([]);
    expect(() =>
      networkWrites([stored('i', network('ingress'), true)], stackOf('st', [], [network('ingress', {}, true)]), make),
    ).toThrow(/routing mesh/);
  });

  it("counts a network's asked-for subnet as taken before the allocator gives it", () => {
    const asked = NetworkSpec.fromPartial({ annotations: { name: 'first' }, ipam: [{ subnet: '10.70.0.0/16' }] });
    const pending = [{ id: 'p', version: 1n, value: Network.fromPartial({ id: 'p', spec: asked }) }];
    const second = NetworkSpec.fromPartial({ annotations: { name: 'st_y' }, ipam: [{ subnet: '10.70.8.0/24' }] });
    expect(() => networkWrites(pending, stackOf('st', [], [second]), make)).toThrow(
      /overlaps 10\.70\.0\.0\/16 of network first/,
    );
    const clear = NetworkSpec.fromPartial({ annotations: { name: 'st_y' }, ipam: [{ subnet: '10.71.0.0/24' }] });
    expect(networkWrites(pending, stackOf('st', [], [clear]), make)).toHaveLength(1);
  });

  it('refuses a port another service publishes, not one published in host mode or by the service itself', () => {
    const existing = [
      { id: 'a', version: 1n, value: Service.fromPartial({ id: 'a', spec: service('other_web', 'other', 8080) }) },
    ];
    expect(() => decideStack(existing, stackOf('st', [service('st_web', 'st', 8080)]), false, make)).toThrow(
      /port 8080\/tcp of st_web is already published by service other_web/,
    );
    expect(() =>
      decideStack(
        existing,
        stackOf('st', [service('st_web', 'st', 8080, PortConfig_PublishMode.PUBLISH_MODE_HOST)]),
        false,
        make,
      ),
    ).not.toThrow();
    expect(() =>
      decideStack(existing, stackOf('other', [service('other_web', 'other', 8080)]), false, make),
    ).not.toThrow();
    expect(() =>
      decideStack([], stackOf('st', [service('st_a', 'st', 9000), service('st_b', 'st', 9000)]), false, make),
    ).toThrow(/already published by service st_a/);
  });
});

describe('checkAddresses', () => {
  const stack = (ipv4Address: string, extra: object = {}, hostIp = '') =>
    StackSpec.fromPartial({
      name: 'st',
      networks: [
        { annotations: { name: 'st_back' }, ipam: [{ subnet: '10.60.0.0/24' }] },
        { annotations: { name: 'st_default' } },
      ],
      services: [
        {
          annotations: { name: 'st_db' },
          replicas: 1n,
          networks: [
            {
              target: ipv4Address.startsWith('d:') ? 'st_default' : 'st_back',
              ipv4Address: ipv4Address.replace('d:', ''),
            },
          ],
          endpoint: { ports: [{ targetPort: 80, publishedPort: 8080, hostIp }] },
          ...(extra as Record<string, never>),
        },
      ],
    });

  it('takes a host address of the explicit subnet for one replica', () => {
    expect(() => checkAddresses(stack('10.60.0.5'))).not.toThrow();
  });

  it('refuses what would stop allocation or collide', () => {
    expect(() => checkAddresses(stack('10.60.0.5/24'))).toThrow(/is not an IPv4 address/);
    expect(() => checkAddresses(stack('10.61.0.5'))).toThrow(/not a host address of 10\.60\.0\.0\/24/);
    expect(() => checkAddresses(stack('10.60.0.1'))).toThrow(/nor its gateway/);
    expect(() => checkAddresses(stack('d:10.42.16.9'))).toThrow(/needs the network to name its subnet/);
    expect(() => checkAddresses(stack('10.60.0.5', { replicas: 2n }))).toThrow(/run one replica/);
    expect(() =>
      checkAddresses(stack('10.60.0.5', { updateConfig: { order: UpdateConfig_Order.ORDER_START_FIRST } })),
    ).toThrow(/order: stop-first/);
  });

  it('refuses a host_ip that is not IPv4', () => {
    expect(() => checkAddresses(stack('', {}, '::1'))).toThrow(/host_ip ::1 is not an IPv4 address/);
    expect(() => checkAddresses(stack('', {}, '192.0.2.7'))).not.toThrow();
  });
});

describe('checkNetworkRoom', () => {
  const stack = (replicas: bigint, subnet = '') =>
    StackSpec.fromPartial({
      name: 'st',
      networks: [{ annotations: { name: 'st_default' }, ...(subnet ? { ipam: [{ subnet }] } : {}) }],
      services: [{ annotations: { name: 'st_web' }, replicas, networks: [{ target: 'st_default' }] }],
    });

  it('refuses more replicas than a /24 holds, and takes them with a larger subnet', () => {
    expect(() => checkNetworkRoom(stack(253n))).not.toThrow();
    expect(() => checkNetworkRoom(stack(254n))).toThrow(/network st_default holds 253 tasks and this stack runs 254/);
    expect(() => checkNetworkRoom(stack(3000n, '10.96.0.0/16'))).not.toThrow();
  });
});

describe('replica counts', () => {
  const stack = (replicas: bigint) =>
    StackSpec.fromPartial({ name: 'st', services: [{ annotations: { name: 'st_web' }, stack: 'st', replicas }] });
  const make = { now: 1n, newId: () => 'svc1' };

  it('refuses more replicas than a service may have (the orchestrator would stall making them)', () => {
    expect(() => decideStack([], stack(1_000_000n), false, make)).not.toThrow();
    expect(() => decideStack([], stack(1_000_001n), false, make)).toThrow(
      /service st_web: 1000001 replicas is more than the 1000000 a service may have/,
    );
    expect(() => decideStack([], stack(2n ** 63n - 1n), false, make)).toThrow(/more than the 1000000/);
  });
});

describe('decideStack for a service created alone (service create)', () => {
  const make = { now: 1n, newId: () => 'svc1' };
  const alone = (name: string, stack = '') =>
    StackSpec.fromPartial({ name: '', services: [ServiceSpec.fromPartial({ annotations: { name }, stack })] });
  const existing = (name: string, stack: string) => ({
    id: 'old',
    version: 3n,
    value: Service.fromPartial({ id: 'old', spec: { annotations: { name }, stack } }),
  });

  it('creates it under its own name, in no stack', () => {
    const [d] = decideStack([], alone('web'), false, make, true);
    expect(d).toMatchObject({ name: 'web', action: 'create', write: { op: 'create', kind: 'services', id: 'svc1' } });
  });

  it('refuses a name already taken, by a stack service or another, and never updates it', () => {
    for (const stack of ['', 'shop']) {
      expect(() => decideStack([existing('web', stack)], alone('web'), false, make, true)).toThrow(
        /a service named web already exists/,
      );
    }
  });

  it('refuses a spec that claims a stack, and an empty stack name outside service create', () => {
    expect(() => decideStack([], alone('web', 'shop'), false, make, true)).toThrow(/invalid service name/);
    expect(() => decideStack([], alone('web'), false, make)).toThrow(/invalid stack name/);
  });
});
