import {
  Constraint_Operator,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Task,
  TaskState,
} from '@flotilla/api';

/** Builders for the scheduler's tests: nodes and tasks as the store holds them. */

export const GiB = 1024n ** 3n;
export const CPU = 1_000_000_000n;

export interface NodeOptions {
  hostname?: string;
  role?: NodeSpec_Role;
  state?: NodeStatus_State;
  availability?: NodeSpec_Availability;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  os?: string;
  arch?: string;
  cpus?: bigint;
  memory?: bigint;
  /** What the node reports as its executor (absent: nothing, as an older agent). */
  executor?: string;
}

export function node(id: string, o: NodeOptions = {}): Node {
  return Node.fromPartial({
    id,
    description: {
      hostname: o.hostname ?? `host-${id}`,
      os: o.os ?? 'linux',
      architecture: o.arch ?? 'x86_64',
      nanoCpus: o.cpus ?? 4n * CPU,
      memoryBytes: o.memory ?? 8n * GiB,
      engineLabels: o.engineLabels ?? {},
      executor: o.executor ?? '',
    },
    spec: {
      role: o.role ?? NodeSpec_Role.ROLE_WORKER,
      availability: o.availability ?? NodeSpec_Availability.AVAILABILITY_ACTIVE,
      labels: o.labels ?? {},
    },
    status: { state: o.state ?? NodeStatus_State.STATE_READY },
  });
}

export interface TaskOptions {
  service?: string;
  slot?: number;
  nodeId?: string;
  specVersion?: bigint;
  cpus?: bigint;
  memory?: bigint;
  constraints?: string[];
  spread?: string[];
  maxReplicasPerNode?: number;
  platforms?: { os?: string; architecture?: string }[];
  /** Published host ports, `8080` or `53/udp`. */
  hostPorts?: string[];
  /** The service allows nodes that run tasks as plain processes. */
  allowProcessExecutor?: boolean;
  /** Names of secrets its container mounts. */
  secrets?: string[];
}

export function task(id: string, o: TaskOptions = {}): Task {
  return Task.fromPartial({
    id,
    serviceId: o.service ?? 'svc',
    slot: BigInt(o.slot ?? 0),
    nodeId: o.nodeId ?? '',
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state: o.nodeId ? TaskState.TASK_STATE_RUNNING : TaskState.TASK_STATE_PENDING },
    specVersion: o.specVersion ?? 1n,
    resources: { reservations: { nanoCpus: o.cpus ?? 0n, memoryBytes: o.memory ?? 0n } },
    placement: {
      constraints: (o.constraints ?? []).map(parseConstraint),
      spread: o.spread ?? [],
      maxReplicasPerNode: BigInt(o.maxReplicasPerNode ?? 0),
      platforms: o.platforms ?? [],
      allowProcessExecutor: o.allowProcessExecutor ?? false,
    },
    hostPorts: (o.hostPorts ?? []).map((p) => {
      const [port, protocol] = p.split('/');
      return {
        protocol: protocol === 'udp' ? PortConfig_Protocol.PROTOCOL_UDP : PortConfig_Protocol.PROTOCOL_TCP,
        targetPort: 80,
        publishedPort: Number(port),
        publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST,
      };
    }),
    serviceName: o.service ?? 'svc',
    ...(o.secrets
      ? { spec: { secrets: o.secrets.map((source) => ({ source, target: `/run/secrets/${source}` })) } }
      : {}),
  });
}

/** `node.labels.zone==a` as the stack loader would store it. */
export function parseConstraint(text: string): { field: string; operator: Constraint_Operator; value: string } {
  const match = /^(.*?)(==|!=)(.*)$/.exec(text);
  if (match === null) throw new Error(`bad constraint ${text}`);
  const [, field = '', op, value = ''] = match;
  return {
    field: field.trim(),
    operator: op === '==' ? Constraint_Operator.OPERATOR_EQ : Constraint_Operator.OPERATOR_NEQ,
    value: value.trim(),
  };
}

/** `n` replicas of one service, ids `${service}.${slot}`. */
export function replicas(service: string, n: number, o: TaskOptions = {}): Task[] {
  return Array.from({ length: n }, (_, i) => task(`${service}.${i + 1}`, { ...o, service, slot: i + 1 }));
}

/** Task id → node id, from a result's assignments. */
export function nodesOf(result: { assigned: { taskId: string; nodeId: string }[] }): Map<string, string> {
  return new Map(result.assigned.map((a) => [a.taskId, a.nodeId]));
}

/** Node id → how many tasks the result assigned to it. */
export function countsOf(result: { assigned: { taskId: string; nodeId: string }[] }): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of result.assigned) counts[a.nodeId] = (counts[a.nodeId] ?? 0) + 1;
  return counts;
}
