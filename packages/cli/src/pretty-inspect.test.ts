import {
  Constraint_Operator,
  EndpointSpec_Mode,
  ManagerView,
  Mount_Type,
  Node,
  NodeSpec_Availability,
  NodeStatus_State,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Service,
  ServiceMode,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { bytesSize, expandTabs, goTime, prettyNode, prettyService } from './pretty-inspect.js';

const now = Date.UTC(2026, 11, 7, 19, 0, 0);
const s = (n: number) => BigInt(n) * 1_000_000_000n;

const full = Service.fromPartial({
  id: 'c8wgl7q4ndfd52ni6qftkvnnp',
  spec: {
    annotations: { name: 'shop_frontend', labels: { 'org.example.team': 'web', 'com.example.empty': '' } },
    mode: ServiceMode.SERVICE_MODE_REPLICATED,
    replicas: 5n,
    container: {
      image: 'nginx:alpine',
      command: ['nginx', '-g', 'daemon off;'],
      commandSet: true,
      env: ['A=1', 'B=2'],
      workingDir: '/srv',
      user: 'www',
      init: true,
      capAdd: ['NET_ADMIN', 'SYS_TIME'],
      capDrop: ['MKNOD'],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: [{ name: 'nofile', soft: 1024n, hard: 2048n }],
      mounts: [{ type: Mount_Type.TYPE_VOLUME, source: 'shop_data', target: '/data', readOnly: true }],
      configs: [{ source: 'shop_nginx', target: '/etc/nginx/nginx.conf' }],
      secrets: [{ source: 'shop_tls', target: '/run/secrets/tls' }],
      healthcheck: {
        test: ['CMD-SHELL', 'wget -q localhost'],
        intervalNs: s(30),
        timeoutNs: s(5),
        retries: 3,
        startPeriodNs: 0n,
      },
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
      reservations: { nanoCpus: 250_000_000n, memoryBytes: 64n * 1024n * 1024n, pids: 0n },
      limits: { nanoCpus: 1_500_000_000n, memoryBytes: 512n * 1024n * 1024n, pids: 100n },
    },
    updateConfig: {
      parallelism: 2n,
      delayNs: s(10),
      failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_ROLLBACK,
      monitorNs: s(5),
      maxFailureRatio: 0.1,
      order: UpdateConfig_Order.ORDER_START_FIRST,
    },
    rollbackConfig: {
      parallelism: 1n,
      failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_PAUSE,
      order: UpdateConfig_Order.ORDER_STOP_FIRST,
    },
    logDriver: { name: 'json-file', options: { 'max-size': '10m' } },
    networks: [{ target: 'shop_front' }, { target: 'shop_back' }],
    endpoint: { mode: EndpointSpec_Mode.MODE_VIP },
  },
  endpointPorts: [
    {
      protocol: PortConfig_Protocol.PROTOCOL_TCP,
      targetPort: 443,
      publishedPort: 4443,
      publishMode: PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
    },
  ],
  updateStatus: {
    state: UpdateStatus_State.STATE_COMPLETED,
    startedAtMs: BigInt(now - 120_000),
    completedAtMs: BigInt(now - 30_000),
    message: 'update completed',
  },
});

// Docker's layout, its tabs expanded at 8 columns.
const FULL = `ID:             c8wgl7q4ndfd52ni6qftkvnnp
Name:           shop_frontend
Labels:
 com.example.empty
 org.example.team=web
Service Mode:   Replicated
 Replicas:      5
UpdateStatus:
 State:         completed
 Started:       2 minutes ago
 Completed:     30 seconds ago
 Message:       update completed
Placement:
 Constraints:   [node.role==worker node.labels.zone!=b]
 Preferences:   [spread=node.labels.zone]
 Max Replicas Per Node:   2
UpdateConfig:
 Parallelism:   2
 Delay:         10s
 On failure:    rollback
 Monitoring Period: 5s
 Max failure ratio: 0.1
 Update order:      start-first
RollbackConfig:
 Parallelism:   1
 On failure:    pause
 Max failure ratio: 0
 Rollback order:    stop-first
ContainerSpec:
 Image:         nginx:alpine
 Args:          nginx -g daemon off;
 Env:           A=1 B=2
 Dir:           /srv
 Init:          true
 User: www
Capabilities:
 Add: NET_ADMIN, SYS_TIME
 Drop: MKNOD
SysCtls:
 net.core.somaxconn: 1024
Ulimits:
 nofile: 1024:2048
Mounts:
 Target:        /data
  Source:       shop_data
  ReadOnly:     true
  Type:         volume
Configs:
 Target:        /etc/nginx/nginx.conf
  Source:       shop_nginx
Secrets:
 Target:        /run/secrets/tls
  Source:       shop_tls
Log Driver:
 Name:          json-file
 LogOpts:
  max-size:       10m
Resources:
 Reservations:
  CPU:          0.25
  Memory:       64MiB
 Limits:
  CPU:          1.5
  Memory:       512MiB
  PIDs:         100
Networks: shop_front shop_back
Endpoint Mode:  vip
Ports:
 PublishedPort = 4443
  Protocol = tcp
  TargetPort = 443
  PublishMode = ingress
 Healthcheck:
  Interval = 30s
  Retries = 3
  StartPeriod = 0s
  Timeout =     5s
  Tests:
         Test = CMD-SHELL
         Test = wget -q localhost
`;

describe('service inspect --pretty', () => {
  it("lays a service out as docker's CLI does", () => {
    expect(prettyService(full, now)).toBe(FULL);
  });

  it('leaves out the sections a plain service has nothing for', () => {
    const plain = Service.fromPartial({
      id: 'x1',
      spec: { annotations: { name: 'web' }, mode: ServiceMode.SERVICE_MODE_GLOBAL, container: { image: 'web:1' } },
    });
    expect(prettyService(plain, now)).toBe(
      [
        'ID:             x1',
        'Name:           web',
        'Service Mode:   Global',
        'Placement:',
        'ContainerSpec:',
        ' Image:         web:1',
        'Resources:',
        'Endpoint Mode:  vip',
        '',
      ].join('\n'),
    );
  });

  it("shows Flotilla's own probe under the healthcheck, where docker's tests go", () => {
    const probed = Service.fromPartial({
      id: 'p',
      spec: {
        annotations: { name: 'api' },
        container: {
          image: 'api:1',
          healthcheck: { intervalNs: s(2), retries: 5, probe: { http: { port: 8080, path: '/ready' } } },
        },
      },
    });
    expect(prettyService(probed, now)).toContain(
      ' Healthcheck:\n  Interval = 2s\n  Retries = 5\n  StartPeriod = 0s\n  Timeout =     0s\n  Probe = http :8080/ready\n',
    );
    expect(prettyService(probed, now)).not.toContain('Tests:');
  });

  it('says which kind of job a job is, with its replicas', () => {
    const job = Service.fromPartial({
      id: 'j',
      spec: { annotations: { name: 'migrate' }, mode: ServiceMode.SERVICE_MODE_REPLICATED_JOB, replicas: 3n },
    });
    expect(prettyService(job, now)).toContain('Service Mode:   Replicated job\n Replicas:      3\n');
  });
});

describe('node inspect --pretty', () => {
  const node = Node.fromPartial({
    id: 'e216jshn25ckzbvmwlnh5jr3g',
    description: {
      hostname: 'worker-1',
      os: 'linux',
      architecture: 'x86_64',
      nanoCpus: 4_000_000_000n,
      memoryBytes: 8_272_695_296n,
      runtime: 'containerd',
      runtimeVersion: '1.7.24',
      engineLabels: { 'com.example.disk': 'ssd' },
    },
    spec: { availability: NodeSpec_Availability.AVAILABILITY_ACTIVE, labels: { zone: 'a' } },
    status: { state: NodeStatus_State.STATE_READY, address: '10.0.0.4' },
    createdAtMs: BigInt(Date.UTC(2026, 4, 16, 22, 52, 44, 990)),
  });

  it("lays a worker out as docker's CLI does", () => {
    expect(prettyNode(node)).toBe(`ID:                     e216jshn25ckzbvmwlnh5jr3g
Labels:
 - zone=a
Hostname:               worker-1
Joined at:              2026-05-16 22:52:44.99 +0000 utc
Status:
 State:                 Ready
 Availability:          Active
 Address:               10.0.0.4
Platform:
 Operating System:      linux
 Architecture:          x86_64
Resources:
 CPUs:                  4
 Memory:                7.705GiB
Engine Version:         containerd 1.7.24
Engine Labels:
 - com.example.disk=ssd
`);
  });

  it('adds the Manager Status of a promoted node, and none for a worker', () => {
    const manager = ManagerView.fromPartial({
      manager: { id: 'm1', address: '10.0.0.4:4242', nodeId: node.id },
      leader: false,
      reachable: true,
    });
    expect(prettyNode(node, manager)).toContain(
      ' Address:               10.0.0.4\nManager Status:\n Address:               10.0.0.4:4242\n Raft Status:           Reachable\n Leader:                No\nPlatform:\n',
    );
    expect(prettyNode(node)).not.toContain('Manager Status');
  });
});

describe('pretty helpers', () => {
  it("expands tabs to 8-column stops, as a terminal shows docker's", () => {
    expect(expandTabs('ID:\t\tx\n Replicas:\t5\nabcdefgh\ty')).toBe(
      'ID:             x\n Replicas:      5\nabcdefgh        y',
    );
  });

  it("gives sizes in docker's binary units with four significant digits", () => {
    expect(bytesSize(512 * 1024 * 1024)).toBe('512MiB');
    expect(bytesSize(1536)).toBe('1.5KiB');
    expect(bytesSize(100)).toBe('100B');
  });

  it('prints times as Go prints a UTC time, trailing zeros of the fraction dropped', () => {
    expect(goTime(Date.UTC(2026, 0, 2, 3, 4, 5, 100))).toBe('2026-01-02 03:04:05.1 +0000 utc');
    expect(goTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('2026-01-02 03:04:05 +0000 utc');
  });
});
