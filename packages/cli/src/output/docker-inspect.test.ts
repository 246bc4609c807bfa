import {
  Constraint_Operator,
  Dependency_Condition,
  EndpointSpec_Mode,
  FlotillaError,
  Mount_Type,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  RestartPolicy_Condition,
  Service,
  ServiceMode,
  ServiceSpec,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import {
  checkInspectFormat,
  checkPretty,
  dockerMode,
  dockerNodeInspect,
  dockerServiceInspect,
  dockerServiceSpec,
  INSPECT_FIELDS,
  renderInspection,
  updateStateWord,
} from './docker-inspect.js';

const at = Date.UTC(2026, 11, 7, 10, 0, 0);
const SECOND = 1_000_000_000;

/** A spec with every duration a different number of seconds, so that each is told apart in nanoseconds. */
const spec = ServiceSpec.fromPartial({
  annotations: { name: 'shop_web', labels: { 'com.docker.stack.namespace': 'shop' } },
  stack: 'shop',
  mode: ServiceMode.SERVICE_MODE_REPLICATED,
  replicas: 3n,
  container: {
    image: 'nginx:1.27',
    entrypoint: ['/entry'],
    entrypointSet: true,
    command: ['nginx', '-g', 'daemon off;'],
    commandSet: true,
    env: ['A=1'],
    user: 'www',
    workingDir: '/srv',
    hostname: 'web',
    labels: { tier: 'front' },
    mounts: [
      { type: Mount_Type.TYPE_BIND, source: '/data', target: '/data', readOnly: true, bindPropagation: 'rshared' },
      { type: Mount_Type.TYPE_VOLUME, source: 'shop_cache', target: '/cache', volumeNocopy: true },
      { type: Mount_Type.TYPE_TMPFS, target: '/tmp', tmpfsSizeBytes: 1024n },
    ],
    stopGracePeriodNs: BigInt(11 * SECOND),
    stopSignal: 'SIGQUIT',
    init: true,
    readOnly: true,
    healthcheck: {
      test: ['CMD', 'true'],
      intervalNs: BigInt(12 * SECOND),
      timeoutNs: BigInt(13 * SECOND),
      retries: 4,
      startPeriodNs: BigInt(14 * SECOND),
    },
    ulimits: [{ name: 'nofile', soft: 1024n, hard: 2048n }],
    sysctls: { 'net.core.somaxconn': '1024' },
    capAdd: ['NET_ADMIN'],
    capDrop: ['MKNOD'],
    secrets: [{ source: 'shop_db_pw', target: 'db_pw', uid: '0', gid: '0', mode: 0o400, objectId: 'sec123' }],
    configs: [{ source: 'shop_conf', target: '/etc/app.conf', mode: 0o444, objectId: 'cfg123' }],
    noNewPrivileges: true,
    seccompProfile: 'unconfined',
    privileged: false,
  },
  placement: {
    constraints: [
      { field: 'node.role', operator: Constraint_Operator.OPERATOR_EQ, value: 'worker' },
      { field: 'node.labels.zone', operator: Constraint_Operator.OPERATOR_NEQ, value: 'b' },
    ],
    spread: ['node.labels.zone'],
    maxReplicasPerNode: 2n,
  },
  resources: {
    limits: { nanoCpus: 500_000_000n, memoryBytes: 268_435_456n, pids: 100n },
    reservations: { nanoCpus: 250_000_000n, memoryBytes: 0n },
  },
  restartPolicy: {
    condition: RestartPolicy_Condition.CONDITION_ON_FAILURE,
    delayNs: BigInt(15 * SECOND),
    maxAttempts: 3n,
    windowNs: BigInt(16 * SECOND),
  },
  updateConfig: {
    parallelism: 2n,
    delayNs: BigInt(17 * SECOND),
    failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_ROLLBACK,
    monitorNs: BigInt(18 * SECOND),
    maxFailureRatio: 0.25,
    order: UpdateConfig_Order.ORDER_START_FIRST,
  },
  rollbackConfig: {
    parallelism: 1n,
    delayNs: BigInt(19 * SECOND),
    failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_PAUSE,
    monitorNs: BigInt(20 * SECOND),
    order: UpdateConfig_Order.ORDER_STOP_FIRST,
  },
  endpoint: {
    mode: EndpointSpec_Mode.MODE_VIP,
    ports: [
      { targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP },
      {
        targetPort: 53,
        publishedPort: 5353,
        protocol: PortConfig_Protocol.PROTOCOL_UDP,
        publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST,
      },
    ],
  },
  networks: [{ target: 'shop_back', aliases: ['api'] }],
  dependsOn: [{ service: 'shop_db', condition: Dependency_Condition.CONDITION_SERVICE_HEALTHY, required: true }],
  disconnect: { stopAfterMs: 21_000n, neverStop: false },
  logDriver: { name: 'json-file', options: { 'max-size': '10m' } },
});

const service = Service.fromPartial({
  id: 'svc0123456789',
  spec,
  specVersion: 7n,
  previousSpec: { ...spec, replicas: 2n },
  updateStatus: {
    state: UpdateStatus_State.STATE_ROLLBACK_COMPLETED,
    startedAtMs: BigInt(at),
    completedAtMs: BigInt(at + 5_000),
    message: 'rollback completed',
    specVersion: 7n,
  },
  createdAtMs: BigInt(at),
  updatedAtMs: BigInt(at + 1_000),
  virtualIp: '10.0.1.2/24',
  endpointPorts: [{ targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP }],
  specHistory: [{ specVersion: 6n, spec: { ...spec, replicas: 2n }, replacedAtMs: BigInt(at + 1_000) }],
});

// biome-ignore lint/suspicious/noExplicitAny: reading the converted JSON as a script would
const inspected = dockerServiceInspect(service) as any;
const container = inspected.Spec.TaskTemplate.ContainerSpec;

describe('service inspect in docker shape', () => {
  it('gives every duration in integer nanoseconds, as docker API does', () => {
    expect(container.StopGracePeriod).toBe(11 * SECOND);
    expect(container.Healthcheck).toEqual({
      Test: ['CMD', 'true'],
      Interval: 12 * SECOND,
      Timeout: 13 * SECOND,
      StartPeriod: 14 * SECOND,
      Retries: 4,
    });
    expect(inspected.Spec.TaskTemplate.RestartPolicy).toEqual({
      Condition: 'on-failure',
      Delay: 15 * SECOND,
      MaxAttempts: 3,
      Window: 16 * SECOND,
    });
    expect(inspected.Spec.UpdateConfig).toEqual({
      Parallelism: 2,
      Delay: 17 * SECOND,
      FailureAction: 'rollback',
      Monitor: 18 * SECOND,
      MaxFailureRatio: 0.25,
      Order: 'start-first',
    });
    expect(inspected.Spec.RollbackConfig).toMatchObject({
      Delay: 19 * SECOND,
      Monitor: 20 * SECOND,
      FailureAction: 'pause',
      Order: 'stop-first',
    });
    // Flotilla keeps this one in milliseconds; docker's shape has nanoseconds throughout.
    expect(inspected.Spec.Flotilla.Disconnect).toEqual({ StopAfter: 21 * SECOND, NeverStop: false });
  });

  it("spells every enum word as docker's API does, never a proto enum name", () => {
    expect(inspected.Spec.EndpointSpec).toEqual({
      Mode: 'vip',
      Ports: [
        { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
        { Protocol: 'udp', TargetPort: 53, PublishedPort: 5353, PublishMode: 'host' },
      ],
    });
    expect(container.Mounts.map((m: { Type: string }) => m.Type)).toEqual(['bind', 'volume', 'tmpfs']);
    expect(inspected.UpdateStatus.State).toBe('rollback_completed');
    expect(
      [
        UpdateStatus_State.STATE_UPDATING,
        UpdateStatus_State.STATE_PAUSED,
        UpdateStatus_State.STATE_COMPLETED,
        UpdateStatus_State.STATE_ROLLBACK_STARTED,
        UpdateStatus_State.STATE_ROLLBACK_PAUSED,
      ].map(updateStateWord),
    ).toEqual(['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused']);
    const words = dockerServiceSpec(
      ServiceSpec.fromPartial({
        endpoint: { mode: EndpointSpec_Mode.MODE_DNSRR, ports: [{ targetPort: 1, protocol: 3 }] },
        restartPolicy: { condition: RestartPolicy_Condition.CONDITION_ANY },
        updateConfig: { failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_CONTINUE },
      }),
    ) as { EndpointSpec: { Mode: string; Ports: { Protocol: string }[] } } & Record<string, never>;
    expect(words.EndpointSpec.Mode).toBe('dnsrr');
    expect(words.EndpointSpec.Ports[0]?.Protocol).toBe('sctp');
    expect(JSON.stringify(words)).toContain('"Condition":"any"');
    expect(JSON.stringify(words)).toContain('"FailureAction":"continue"');
    const none = dockerServiceSpec(
      ServiceSpec.fromPartial({ restartPolicy: { condition: RestartPolicy_Condition.CONDITION_NONE } }),
    );
    expect(JSON.stringify(none)).toContain('"Condition":"none"');
    // No proto enum name anywhere in the whole service.
    expect(JSON.stringify(inspected)).not.toMatch(
      /"(STATE|MODE|PROTOCOL|PUBLISH_MODE|CONDITION|FAILURE_ACTION|ORDER|TYPE|OPERATOR|SERVICE_MODE)_/,
    );
  });

  it("gives each mode as docker's Mode object, a job's counts resolved", () => {
    const mode = (m: ServiceMode, job?: { maxConcurrent: bigint; totalCompletions: bigint }) =>
      dockerMode(ServiceSpec.fromPartial({ mode: m, replicas: 4n, ...(job ? { job } : {}) }));
    expect(mode(ServiceMode.SERVICE_MODE_REPLICATED)).toEqual({ Replicated: { Replicas: 4 } });
    expect(mode(ServiceMode.SERVICE_MODE_GLOBAL)).toEqual({ Global: {} });
    expect(mode(ServiceMode.SERVICE_MODE_GLOBAL_JOB)).toEqual({ GlobalJob: {} });
    expect(mode(ServiceMode.SERVICE_MODE_REPLICATED_JOB)).toEqual({
      ReplicatedJob: { MaxConcurrent: 4, TotalCompletions: 4 },
    });
    expect(mode(ServiceMode.SERVICE_MODE_REPLICATED_JOB, { maxConcurrent: 2n, totalCompletions: 10n })).toEqual({
      ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 10 },
    });
    // A zero replica count is kept: a service scaled to 0 says so.
    expect(dockerMode(ServiceSpec.fromPartial({ mode: ServiceMode.SERVICE_MODE_REPLICATED }))).toEqual({
      Replicated: { Replicas: 0 },
    });
  });

  it("puts the container, resources, placement and endpoint under docker's names", () => {
    expect(inspected).toMatchObject({
      ID: 'svc0123456789',
      Version: { Index: 7 },
      CreatedAt: '2026-12-07T10:00:00.000Z',
      UpdatedAt: '2026-12-07T10:00:01.000Z',
      Spec: { Name: 'shop_web', Labels: { 'com.docker.stack.namespace': 'shop' } },
      Endpoint: {
        Spec: { Mode: 'vip' },
        Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
        VirtualIPs: [{ Addr: '10.0.1.2/24' }],
      },
      UpdateStatus: {
        StartedAt: '2026-12-07T10:00:00.000Z',
        CompletedAt: '2026-12-07T10:00:05.000Z',
        Message: 'rollback completed',
      },
    });
    expect(container).toMatchObject({
      Image: 'nginx:1.27',
      Labels: { tier: 'front' },
      Command: ['/entry'],
      Args: ['nginx', '-g', 'daemon off;'],
      Env: ['A=1'],
      Dir: '/srv',
      User: 'www',
      Hostname: 'web',
      Init: true,
      ReadOnly: true,
      StopSignal: 'SIGQUIT',
      Privileges: { NoNewPrivileges: true, Seccomp: { Mode: 'unconfined' } },
      Secrets: [
        { File: { Name: 'db_pw', UID: '0', GID: '0', Mode: 0o400 }, SecretID: 'sec123', SecretName: 'shop_db_pw' },
      ],
      Configs: [{ File: { Name: '/etc/app.conf', Mode: 0o444 }, ConfigID: 'cfg123', ConfigName: 'shop_conf' }],
      CapabilityAdd: ['NET_ADMIN'],
      CapabilityDrop: ['MKNOD'],
      Sysctls: { 'net.core.somaxconn': '1024' },
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
    });
    expect(container.Mounts[0]).toEqual({
      Type: 'bind',
      Source: '/data',
      Target: '/data',
      ReadOnly: true,
      BindOptions: { Propagation: 'rshared' },
    });
    expect(container.Mounts[2]).toEqual({ Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 1024 } });
    expect(inspected.Spec.TaskTemplate).toMatchObject({
      Resources: {
        Limits: { NanoCPUs: 500_000_000, MemoryBytes: 268_435_456, Pids: 100 },
        Reservations: { NanoCPUs: 250_000_000 },
      },
      Placement: {
        Constraints: ['node.role==worker', 'node.labels.zone!=b'],
        Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
        MaxReplicas: 2,
      },
      Networks: [{ Target: 'shop_back', Aliases: ['api'] }],
      LogDriver: { Name: 'json-file', Options: { 'max-size': '10m' } },
    });
    // Docker leaves a zero reservation out rather than printing 0.
    expect(inspected.Spec.TaskTemplate.Resources.Reservations).not.toHaveProperty('MemoryBytes');
  });

  it('keeps what docker has no place for under Flotilla, never under a docker name', () => {
    expect(inspected.Spec.Flotilla).toEqual({
      Stack: 'shop',
      DependsOn: [{ Service: 'shop_db', Condition: 'service_healthy', Required: true }],
      Disconnect: { StopAfter: 21 * SECOND, NeverStop: false },
    });
    expect(inspected.Flotilla).toMatchObject({
      SpecVersion: 7,
      UpdateSpecVersion: 7,
      SpecHistory: [{ SpecVersion: 6, ReplacedAt: '2026-12-07T10:00:01.000Z', Spec: { Name: 'shop_web' } }],
    });
    expect(inspected.PreviousSpec.Mode).toEqual({ Replicated: { Replicas: 2 } });
    expect(inspected.Spec).not.toHaveProperty('Stack');
  });

  it('gives a new service no PreviousSpec and no UpdateStatus, as docker leaves them out', () => {
    const fresh = dockerServiceInspect(
      Service.fromPartial({ id: 'new', specVersion: 1n, spec: { annotations: { name: 'solo' } } }),
    );
    expect(fresh).not.toHaveProperty('PreviousSpec');
    expect(fresh).not.toHaveProperty('UpdateStatus');
    expect(fresh).toMatchObject({ Version: { Index: 1 }, Spec: { Name: 'solo', Labels: {} } });
    // Nothing Flotilla-only in a bare spec: no empty Flotilla key inside it.
    expect(fresh.Spec).not.toHaveProperty('Flotilla');
    expect(fresh).not.toHaveProperty('CreatedAt');
  });
});

describe('node inspect in docker shape', () => {
  const node = Node.fromPartial({
    id: 'node0123',
    description: {
      hostname: 'node-a',
      addresses: ['198.18.0.2'],
      os: 'linux',
      architecture: 'x86_64',
      nanoCpus: 2_000_000_000n,
      memoryBytes: 4_294_967_296n,
      runtime: 'containerd',
      runtimeVersion: '1.7.24',
      engineLabels: { disk: 'ssd' },
      executor: 'containerd',
    },
    spec: {
      role: NodeSpec_Role.ROLE_WORKER,
      availability: NodeSpec_Availability.AVAILABILITY_DRAIN,
      labels: { zone: 'a' },
    },
    status: { state: NodeStatus_State.STATE_READY, address: '198.18.0.2', lastHeartbeatMs: BigInt(at) },
    createdAtMs: BigInt(at),
    updatedAtMs: BigInt(at),
  });

  it("gives docker's Spec, Description and Status, a worker with no ManagerStatus", () => {
    expect(dockerNodeInspect(node)).toEqual({
      ID: 'node0123',
      CreatedAt: '2026-12-07T10:00:00.000Z',
      UpdatedAt: '2026-12-07T10:00:00.000Z',
      Spec: { Labels: { zone: 'a' }, Role: 'worker', Availability: 'drain' },
      Description: {
        Hostname: 'node-a',
        Platform: { Architecture: 'x86_64', OS: 'linux' },
        Resources: { NanoCPUs: 2_000_000_000, MemoryBytes: 4_294_967_296 },
        Engine: { EngineVersion: '1.7.24', Labels: { disk: 'ssd' } },
      },
      Status: { State: 'ready', Addr: '198.18.0.2' },
      Flotilla: {
        Addresses: ['198.18.0.2'],
        Runtime: 'containerd',
        Executor: 'containerd',
        LastHeartbeatAt: '2026-12-07T10:00:00.000Z',
      },
    });
  });

  it("gives a promoted node the manager role and docker's ManagerStatus", () => {
    const manager = {
      leader: true,
      reachable: true,
      manager: { id: 'mgr1', address: '198.18.0.2:4242', etcdMember: true } as never,
    };
    expect(dockerNodeInspect(node, manager)).toMatchObject({
      Spec: { Role: 'manager' },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '198.18.0.2:4242' },
      Flotilla: { ManagerID: 'mgr1', EtcdMember: true },
    });
    const follower = dockerNodeInspect(node, { ...manager, leader: false, reachable: false });
    // Docker leaves Leader out unless it is true.
    expect(follower.ManagerStatus).toEqual({ Reachability: 'unreachable', Addr: '198.18.0.2:4242' });
  });
});

describe('service inspect --format', () => {
  const render = (format: string | undefined) =>
    renderInspection({
      format,
      kind: 'service',
      docker: () => [dockerServiceInspect(service)],
      raw: () => [Service.toJSON(service)],
    });

  it("prints docker's shape by default and with json, the API's objects with raw", () => {
    expect(JSON.parse(render(undefined))).toEqual(JSON.parse(render('json')));
    expect(JSON.parse(render('json'))[0].Spec.Name).toBe('shop_web');
    const [raw] = JSON.parse(render('raw'));
    expect(raw.spec.annotations.name).toBe('shop_web');
    expect(raw.updateStatus.state).toBe('STATE_ROLLBACK_COMPLETED');
    expect(raw).not.toHaveProperty('Spec');
  });

  it('runs a template over the docker-shaped object, one line an object', () => {
    expect(render('{{.Spec.Name}}')).toBe('shop_web\n');
    expect(render('{{json .Spec.Mode}}')).toBe('{"Replicated":{"Replicas":3}}\n');
    expect(render('{{.Spec.TaskTemplate.ContainerSpec.StopGracePeriod}}')).toBe(`${11 * SECOND}\n`);
    expect(render('{{index .Spec.Labels "com.docker.stack.namespace"}} {{.Version.Index}}')).toBe('shop 7\n');
  });

  it('refuses an unknown format or top-level field as bad usage, and --pretty with --format', () => {
    const usage = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof FlotillaError ? err.reason : err;
      }
      return 'accepted';
    };
    expect(usage(() => checkInspectFormat('table', 'service'))).toBe('usage');
    expect(usage(() => checkInspectFormat('{{.Sepc.Name}}', 'service'))).toBe('usage');
    expect(usage(() => checkInspectFormat('{{.Description.Hostname}}', 'service'))).toBe('usage');
    expect(checkInspectFormat('{{.Description.Hostname}}', 'node')).toBe('{{.Description.Hostname}}');
    expect(usage(() => checkPretty('json', true))).toBe('usage');
    expect(usage(() => checkPretty(undefined, true))).toBe('accepted');
    expect(INSPECT_FIELDS.service).toEqual([
      'ID',
      'Version',
      'CreatedAt',
      'UpdatedAt',
      'Spec',
      'PreviousSpec',
      'Endpoint',
      'UpdateStatus',
      'Flotilla',
    ]);
  });
});
