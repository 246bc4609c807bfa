import {
  ListNodesResponse,
  ListTasksResponse,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  ServiceMode,
  ServiceSummary,
  StackSummary,
  TaskHealth,
  TaskState,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { dockerNodes, dockerService, dockerStack, dockerTasks, portsWord, rfc3339 } from './docker-json.js';

const at = Date.UTC(2026, 11, 7, 10, 0, 0);
const now = at + 3_000;

describe('docker-shaped listings', () => {
  it('gives a service as `docker service ls --format json` does, with ports and RFC 3339 times', () => {
    const summary = ServiceSummary.fromPartial({
      service: {
        id: 'svc0123456789abcdef',
        spec: {
          annotations: { name: 'web_web' },
          stack: 'web',
          mode: ServiceMode.SERVICE_MODE_REPLICATED,
          container: { image: 'nginx:1.27' },
          endpoint: {
            ports: [{ targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP }],
          },
        },
        createdAtMs: BigInt(at),
        updatedAtMs: BigInt(now),
      },
      running: 2n,
      desired: 3n,
    });
    expect(dockerService(summary)).toEqual({
      ID: 'svc0123456789abcdef',
      Name: 'web_web',
      Mode: 'replicated',
      Replicas: '2/3',
      Image: 'nginx:1.27',
      Ports: '*:8080->80/tcp',
      Stack: 'web',
      Running: 2,
      Desired: 3,
      CreatedAt: '2026-12-07T10:00:00.000Z',
      UpdatedAt: '2026-12-07T10:00:03.000Z',
    });
  });

  it("gives a job's replicas in docker's words, and no times it never had", () => {
    const job = dockerService(
      ServiceSummary.fromPartial({
        service: {
          id: 'j',
          spec: { annotations: { name: 'batch_seed' }, mode: ServiceMode.SERVICE_MODE_REPLICATED_JOB },
        },
        running: 1n,
        desired: 2n,
        completed: 3n,
        completions: 5n,
      }),
    );
    expect(job).toMatchObject({ Mode: 'replicated job', Replicas: '1/2 (3/5 completed)', Ports: '', CreatedAt: '' });
  });

  it('gives tasks as `docker service ps --format json` does, states in lower case, never proto enum names', () => {
    const response = ListTasksResponse.fromPartial({
      tasks: [
        {
          id: 'task0123456789abcdef',
          serviceId: 'svc',
          serviceName: 'web_web',
          slot: 2n,
          nodeId: 'n1',
          desiredState: TaskState.TASK_STATE_RUNNING,
          spec: { image: 'nginx:1.27' },
          createdAtMs: BigInt(at),
          hostPorts: [
            {
              targetPort: 80,
              publishedPort: 8080,
              protocol: PortConfig_Protocol.PROTOCOL_UDP,
              publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST,
            },
          ],
          status: {
            state: TaskState.TASK_STATE_RUNNING,
            timestampMs: BigInt(at),
            health: TaskHealth.TASK_HEALTH_HEALTHY,
          },
        },
        {
          id: 'global0',
          serviceName: 'mon_agent',
          slot: 0n,
          nodeId: 'n2',
          desiredState: TaskState.TASK_STATE_RUNNING,
          status: { state: TaskState.TASK_STATE_PENDING, message: 'no node has 4 CPUs free' },
        },
        {
          id: 'failed0',
          serviceName: 'web_web',
          slot: 2n,
          desiredState: TaskState.TASK_STATE_SHUTDOWN,
          status: { state: TaskState.TASK_STATE_FAILED, exitCode: 3, error: 'exited with 3', timestampMs: BigInt(at) },
        },
      ],
      nodeNames: { n1: 'node-1' },
    });
    const [running, pending, failed] = dockerTasks(response, now);
    expect(running).toEqual({
      ID: 'task0123456789abcdef',
      Name: 'web_web.2',
      Image: 'nginx:1.27',
      Node: 'node-1',
      DesiredState: 'running',
      CurrentState: 'running (healthy) 3 seconds ago',
      Error: '',
      Ports: '8080->80/udp',
      State: 'running',
      Health: 'healthy',
      ExitCode: 0,
      Timestamp: '2026-12-07T10:00:00.000Z',
      CreatedAt: '2026-12-07T10:00:00.000Z',
      ServiceID: 'svc',
      ServiceName: 'web_web',
      NodeID: 'n1',
      Slot: 2,
    });
    // A global task is named by its node; a node the listing has no name for is shown by its ID.
    expect(pending).toMatchObject({
      Name: 'mon_agent.n2',
      Node: 'n2',
      State: 'pending',
      Error: 'no node has 4 CPUs free',
    });
    expect(failed).toMatchObject({
      DesiredState: 'shutdown',
      CurrentState: 'failed (exit 3) 3 seconds ago',
      Error: 'exited with 3',
      ExitCode: 3,
      Node: '',
    });
    expect(JSON.stringify(dockerTasks(response, now))).not.toMatch(/TASK_STATE|TASK_HEALTH|timestampMs/);
  });

  it('gives nodes and managers as `docker node ls --format json` does', () => {
    const response = ListNodesResponse.fromPartial({
      nodes: [
        {
          id: 'node1',
          description: { hostname: 'h1', runtime: 'containerd', runtimeVersion: '2.0.4', addresses: ['10.0.0.1'] },
          spec: { role: NodeSpec_Role.ROLE_WORKER, availability: NodeSpec_Availability.AVAILABILITY_DRAIN },
          status: { state: NodeStatus_State.STATE_READY },
          createdAtMs: BigInt(at),
        },
        {
          id: 'node2',
          description: { hostname: 'h2' },
          spec: { role: NodeSpec_Role.ROLE_WORKER, availability: NodeSpec_Availability.AVAILABILITY_ACTIVE },
          status: { state: NodeStatus_State.STATE_DOWN, address: '10.0.0.2' },
        },
      ],
      managers: [
        { manager: { id: 'mgr1', hostname: 'm1', address: '10.0.0.9:4242' }, leader: true, reachable: true },
        { manager: { id: 'mgr2', hostname: 'h2', nodeId: 'node2' }, leader: false, reachable: false },
      ],
    });
    expect(dockerNodes(response)).toEqual([
      {
        ID: 'node1',
        Hostname: 'h1',
        Status: 'ready',
        Availability: 'drain',
        ManagerStatus: '',
        EngineVersion: '2.0.4',
        Role: 'worker',
        Address: '10.0.0.1',
        RunsTasks: true,
        CreatedAt: '2026-12-07T10:00:00.000Z',
      },
      // A promoted node: its manager's status on its own row.
      {
        ID: 'node2',
        Hostname: 'h2',
        Status: 'down',
        Availability: 'active',
        ManagerStatus: 'Unreachable',
        EngineVersion: '',
        Role: 'manager',
        Address: '10.0.0.2',
        RunsTasks: true,
        CreatedAt: '',
      },
      {
        ID: 'mgr1',
        Hostname: 'm1',
        Status: 'ready',
        Availability: '',
        ManagerStatus: 'Leader',
        EngineVersion: '',
        Role: 'manager',
        Address: '10.0.0.9:4242',
        RunsTasks: false,
        CreatedAt: '',
      },
    ]);
  });

  it('gives stacks and times as docker does', () => {
    expect(dockerStack(StackSummary.fromPartial({ name: 'web', services: 3 }))).toEqual({ Name: 'web', Services: '3' });
    expect(rfc3339(0n)).toBe('');
    expect(rfc3339(1n)).toBe('1970-01-01T00:00:00.001Z');
  });

  it('lists published ports only, several comma-separated, an unpublished one not at all', () => {
    expect(
      portsWord([
        { name: '', targetPort: 80, publishedPort: 80, protocol: 0, publishMode: 0, hostIp: '' },
        { name: '', targetPort: 53, publishedPort: 5353, protocol: 2, publishMode: 1, hostIp: '127.0.0.1' },
        { name: '', targetPort: 9000, publishedPort: 0, protocol: 1, publishMode: 1, hostIp: '' },
      ]),
    ).toBe('*:80->80/tcp, 127.0.0.1:5353->53/udp');
  });
});
