import {
  isJobMode,
  type ListNodesResponse,
  type ListTasksResponse,
  type ManagerView,
  type Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  type PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  type Service,
  ServiceMode,
  type ServiceSummary,
  type StackSummary,
  type Task,
  TaskHealth,
  TaskState,
} from '@flotilla/api';
import { ago } from '../table.js';

/*
 * The listings' `--format json` and templates, in the shape the docker CLI gives them: docker's field names
 * (ID, Name, Replicas...), state names in lower case as docker's API spells them (`running`, `ready`, `active`),
 * times in RFC 3339. A few fields docker's listing lacks but scripts need (a task's State, NodeID, Slot) are
 * added under the names docker's inspect output uses for them. The README has a table of every field.
 */

/** A row of `service ls --format json`. */
export interface DockerService {
  ID: string;
  Name: string;
  Mode: string;
  Replicas: string;
  Image: string;
  Ports: string;
  Stack: string;
  Running: number;
  Desired: number;
  CreatedAt: string;
  UpdatedAt: string;
}

/** A row of `service ps` / `stack ps --format json`. */
export interface DockerTask {
  ID: string;
  Name: string;
  Image: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Ports: string;
  State: string;
  Health: string;
  ExitCode: number;
  Timestamp: string;
  CreatedAt: string;
  ServiceID: string;
  ServiceName: string;
  NodeID: string;
  Slot: number;
}

/** A row of `node ls --format json`: a node, or a manager that runs no agent (Availability and EngineVersion empty). */
export interface DockerNode {
  ID: string;
  Hostname: string;
  Status: string;
  Availability: string;
  ManagerStatus: string;
  EngineVersion: string;
  Role: string;
  Address: string;
  RunsTasks: boolean;
  CreatedAt: string;
}

/** A row of `stack ls --format json`. */
export interface DockerStack {
  Name: string;
  Services: string;
}

/**
 * An enum member's name without its prefix, in lower case, words joined by `-` as docker's API joins them:
 * TASK_STATE_RUNNING → running, CONDITION_ON_FAILURE → on-failure; empty for the UNSPECIFIED member.
 */
export function enumWord(names: Record<number, string>, value: number | undefined, prefix: string): string {
  const name = names[value ?? 0] ?? '';
  return name.endsWith('_UNSPECIFIED') ? '' : name.slice(prefix.length).toLowerCase().replaceAll('_', '-');
}

/** Milliseconds since the epoch as RFC 3339 (UTC); empty when the time was never set. */
export function rfc3339(ms: bigint | number | undefined): string {
  const n = Number(ms ?? 0);
  return n > 0 ? new Date(n).toISOString() : '';
}

const PROTOCOL = PortConfig_Protocol as unknown as Record<number, string>;

/** A port's protocol as docker writes it: tcp (also when the spec left it unsaid), udp, sctp. */
export function protocolWord(protocol: PortConfig_Protocol | undefined): string {
  return enumWord(PROTOCOL, protocol, 'PROTOCOL_') || 'tcp';
}

/** Published ports as docker lists them: `*:8080->80/tcp`, comma-separated; host-mode ports without the `*`. */
export function portsWord(ports: readonly PortConfig[]): string {
  return ports
    .filter((p) => p.publishedPort > 0)
    .map((p) => {
      const protocol = protocolWord(p.protocol);
      const host = p.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST ? p.hostIp || '' : p.hostIp || '*';
      return `${host ? `${host}:` : ''}${p.publishedPort}->${p.targetPort}/${protocol}`;
    })
    .join(', ');
}

const MODE: Record<number, string> = {
  [ServiceMode.SERVICE_MODE_REPLICATED]: 'replicated',
  [ServiceMode.SERVICE_MODE_GLOBAL]: 'global',
  [ServiceMode.SERVICE_MODE_REPLICATED_JOB]: 'replicated job',
  [ServiceMode.SERVICE_MODE_GLOBAL_JOB]: 'global job',
};

/**
 * The ports the routing mesh publishes for a service, as `docker service ls` lists them: `*:8080->80/tcp`. The
 * allocated ports when there are (a port published without a number has one only then); host-mode ports are left
 * out, as docker leaves them out: the tasks publish those (`service ps` shows them).
 */
export function servicePorts(s: Service): string {
  const ports = s.endpointPorts.length > 0 ? s.endpointPorts : (s.spec?.endpoint?.ports ?? []);
  return portsWord(
    ports.filter((p) => p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST).map((p) => ({ ...p, hostIp: '' })),
  );
}

export function dockerService(summary: ServiceSummary): DockerService {
  const s = summary.service;
  const mode = s?.spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED;
  const replicas = `${summary.running}/${summary.desired}`;
  return {
    ID: s?.id ?? '',
    Name: s?.spec?.annotations?.name ?? '',
    Mode: MODE[mode] ?? 'replicated',
    // Docker's form for jobs: running/max concurrent (completed/completions completed).
    Replicas: isJobMode(mode) ? `${replicas} (${summary.completed}/${summary.completions} completed)` : replicas,
    Image: s?.spec?.container?.image ?? '',
    Ports: s ? servicePorts(s) : '',
    Stack: s?.spec?.stack ?? '',
    Running: Number(summary.running),
    Desired: Number(summary.desired),
    CreatedAt: rfc3339(s?.createdAtMs),
    UpdatedAt: rfc3339(s?.updatedAtMs),
  };
}

const TASK_STATE = TaskState as unknown as Record<number, string>;
const TASK_HEALTH = TaskHealth as unknown as Record<number, string>;

/** A task's name as docker gives it: SERVICE.SLOT, or SERVICE.NODE for a global service's task. */
export function taskName(t: Task): string {
  return t.slot === 0n ? `${t.serviceName}.${t.nodeId}` : `${t.serviceName}.${t.slot}`;
}

/** A task state as docker's API spells it: `running`, `shutdown`; empty when unset. */
export function taskStateWord(state: TaskState | undefined): string {
  return enumWord(TASK_STATE, state, 'TASK_STATE_');
}

/** The CURRENT STATE column: state, health or exit code, and how long ago (`running (healthy) 3 seconds ago`). */
export function currentState(t: Task, now = Date.now()): string {
  const status = t.status;
  const state = taskStateWord(status?.state) || 'unknown';
  let detail = '';
  const health = enumWord(TASK_HEALTH, status?.health, 'TASK_HEALTH_');
  if (status?.state === TaskState.TASK_STATE_RUNNING && health) detail = ` (${health})`;
  if (status?.state === TaskState.TASK_STATE_COMPLETE) detail = ` (exit ${status.exitCode})`;
  if (status?.state === TaskState.TASK_STATE_FAILED && status.exitCode !== 0) detail = ` (exit ${status.exitCode})`;
  return `${state}${detail} ${ago(status?.timestampMs ?? 0n, now)}`.trim();
}

/** The ERROR column: the task's error, or why a pending task waits. */
export function taskError(t: Task): string {
  const status = t.status;
  return status?.error || (status?.state === TaskState.TASK_STATE_PENDING ? status.message : '');
}

export function dockerTask(t: Task, nodeNames: Record<string, string>, now = Date.now()): DockerTask {
  const status = t.status;
  return {
    ID: t.id,
    Name: taskName(t),
    Image: t.spec?.image ?? '',
    Node: t.nodeId ? (nodeNames[t.nodeId] ?? t.nodeId) : '',
    DesiredState: taskStateWord(t.desiredState),
    CurrentState: currentState(t, now),
    Error: taskError(t),
    Ports: portsWord(t.hostPorts),
    State: taskStateWord(status?.state),
    Health: enumWord(TASK_HEALTH, status?.health, 'TASK_HEALTH_'),
    ExitCode: status?.exitCode ?? 0,
    Timestamp: rfc3339(status?.timestampMs),
    CreatedAt: rfc3339(t.createdAtMs),
    ServiceID: t.serviceId,
    ServiceName: t.serviceName,
    NodeID: t.nodeId,
    Slot: Number(t.slot),
  };
}

export function dockerTasks(response: ListTasksResponse, now = Date.now()): DockerTask[] {
  return response.tasks.map((t) => dockerTask(t, response.nodeNames, now));
}

const NODE_STATE = NodeStatus_State as unknown as Record<number, string>;
const AVAILABILITY = NodeSpec_Availability as unknown as Record<number, string>;
const ROLE = NodeSpec_Role as unknown as Record<number, string>;

/** Docker's MANAGER STATUS words: Leader, Reachable, Unreachable; empty for a worker. */
export function managerStatusWord(m: ManagerView | undefined): string {
  if (!m) return '';
  return m.leader ? 'Leader' : m.reachable ? 'Reachable' : 'Unreachable';
}

export function dockerNode(n: Node, manager?: ManagerView): DockerNode {
  return {
    ID: n.id,
    Hostname: n.description?.hostname ?? '',
    Status: enumWord(NODE_STATE, n.status?.state, 'STATE_') || 'unknown',
    Availability: enumWord(AVAILABILITY, n.spec?.availability, 'AVAILABILITY_'),
    ManagerStatus: managerStatusWord(manager),
    EngineVersion: n.description?.runtimeVersion ?? '',
    Role: manager ? 'manager' : enumWord(ROLE, n.spec?.role, 'ROLE_') || 'worker',
    Address: n.description?.addresses[0] ?? n.status?.address ?? '',
    RunsTasks: true,
    CreatedAt: rfc3339(n.createdAtMs),
  };
}

/** A manager that runs no agent, as a row of its own: it has no availability or engine, and runs no task. */
export function dockerManager(m: ManagerView): DockerNode {
  return {
    ID: m.manager?.id ?? '',
    Hostname: m.manager?.hostname ?? '',
    Status: m.reachable ? 'ready' : 'down',
    Availability: '',
    ManagerStatus: managerStatusWord(m),
    EngineVersion: '',
    Role: 'manager',
    Address: m.manager?.address ?? '',
    RunsTasks: false,
    CreatedAt: rfc3339(m.manager?.createdAtMs),
  };
}

/** `node ls`: the nodes, a promoted node's manager on the node's own row, then the managers that run no agent. */
export function dockerNodes(response: Pick<ListNodesResponse, 'nodes' | 'managers'>): DockerNode[] {
  const ids = new Set(response.nodes.map((n) => n.id));
  const onNode = new Map(
    response.managers.filter((m) => ids.has(m.manager?.nodeId ?? '')).map((m) => [m.manager?.nodeId, m]),
  );
  return [
    ...response.nodes.map((n) => dockerNode(n, onNode.get(n.id))),
    ...response.managers.filter((m) => !ids.has(m.manager?.nodeId ?? '')).map(dockerManager),
  ];
}

export function dockerStack(s: StackSummary): DockerStack {
  return { Name: s.name, Services: String(s.services) };
}
