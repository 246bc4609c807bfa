import {
  isGlobalMode,
  type Node,
  NodeSpec_Availability,
  NodeStatus_State,
  type Service,
  ServiceSpec,
  type Task,
  TaskState,
  taskEnded,
  UpdateStatus_State,
} from '@flotilla/api';
import {
  type FlotillaEvent,
  NODE_AVAILABILITIES,
  type NodeAvailabilityName,
  type NodeDownState,
  TASK_STATES,
  type TaskStateName,
  UPDATE_STATES,
  type UpdateStateName,
} from '@flotilla/events';

// Status messages come from agents and loops; a long one says nothing more, and the log keeps every event.
const MAX_TEXT = 512;

/**
 * The events one change of a service makes: created, updated (a new spec version, or a new replica count),
 * rolled back, removed; and the progress of its rollout when that moves on its own. Only names, versions and
 * states go in: never the spec's environment, secrets or anything else a task runs with.
 */
export function serviceEvents(previous: Service | undefined, value: Service | undefined, at: number): FlotillaEvent[] {
  if (!value) {
    if (!previous) return [];
    return [{ ...serviceHead(previous, at), action: 'removed', version: Number(previous.specVersion) }];
  }
  const replicas = replicasOf(value);
  const head = { ...serviceHead(value, at), version: Number(value.specVersion), ...replicas };
  if (!previous) return [{ ...head, action: 'created' }];
  if (value.specVersion !== previous.specVersion) {
    return [{ ...head, action: rollbackStarted(previous, value) ? 'rolled_back' : 'updated' }];
  }
  const out: FlotillaEvent[] = [];
  if (!sameSpec(previous, value)) out.push({ ...head, action: 'updated' });
  const progress = rolloutProgress(previous, value, at);
  if (progress) out.push(progress);
  return out;
}

/**
 * The event of a task whose observed state moved (or that was made): from and to, the node it is on, and the
 * exit code once it ended. A change of only its desired state or of its health says nothing here.
 */
export function taskEvents(previous: Task | undefined, value: Task | undefined, at: number): FlotillaEvent[] {
  if (!value) return [];
  const to = taskStateName(value.status?.state);
  if (!to) return [];
  const from = previous ? taskStateName(previous.status?.state) : 'new';
  if (!from || (previous && from === to)) return [];
  const status = value.status;
  return [
    {
      type: 'task.state',
      taskId: value.id,
      serviceId: value.serviceId,
      nodeId: value.nodeId,
      from,
      to,
      message: clip(status?.error || status?.message || ''),
      serviceName: value.serviceName,
      slot: Number(value.slot),
      ...(taskEnded(value) ? { exitCode: status?.exitCode ?? 0 } : {}),
      at,
    },
  ];
}

/** The events of a node: ready, down (or unknown, disconnected), removed; and its availability changing. */
export function nodeEvents(previous: Node | undefined, value: Node | undefined, at: number): FlotillaEvent[] {
  if (!value) {
    if (!previous) return [];
    const head = nodeHead(previous, at);
    return [{ ...head, type: 'node.down', reason: 'removed from the cluster', state: 'removed' }];
  }
  const out: FlotillaEvent[] = [];
  const head = nodeHead(value, at);
  const state = value.status?.state;
  const before = previous?.status?.state;
  if (state !== before) {
    if (state === NodeStatus_State.STATE_READY) {
      out.push({ ...head, type: 'node.up', address: value.status?.address ?? '' });
    } else if (previous) {
      const down = downState(state);
      if (down) out.push({ ...head, type: 'node.down', reason: clip(value.status?.message ?? ''), state: down });
    }
  }
  const availability = availabilityName(value.spec?.availability);
  if (previous && availability && availability !== availabilityName(previous.spec?.availability)) {
    out.push({ ...head, type: 'node.availability', availability });
  }
  return out;
}

/** TASK_STATE_RUNNING → running; undefined for a state the event log does not know (unspecified). */
export function taskStateName(state: TaskState | undefined): TaskStateName | undefined {
  return enumName(TaskState, state, 'TASK_STATE_', TASK_STATES);
}

function serviceHead(service: Service, at: number) {
  return {
    type: 'service.changed' as const,
    serviceId: service.id,
    serviceName: service.spec?.annotations?.name ?? '',
    at,
  };
}

function replicasOf(service: Service): { replicas?: number } {
  if (isGlobalMode(service.spec?.mode)) return {};
  return { replicas: Number(service.spec?.replicas ?? 0n) };
}

/** Whether this change is the start of a rollback (by the operator or by a failed update's failure action). */
function rollbackStarted(previous: Service, value: Service): boolean {
  const now = value.updateStatus;
  if (now?.state !== UpdateStatus_State.STATE_ROLLBACK_STARTED) return false;
  const before = previous.updateStatus;
  return before?.state !== now.state || before.specVersion !== now.specVersion;
}

function sameSpec(previous: Service, value: Service): boolean {
  const a = ServiceSpec.encode(previous.spec ?? ServiceSpec.fromPartial({})).finish();
  const b = ServiceSpec.encode(value.spec ?? ServiceSpec.fromPartial({})).finish();
  return Buffer.from(a).equals(Buffer.from(b));
}

/** A rollout that moved on (paused, completed, rollback completed) without a new spec version. */
function rolloutProgress(previous: Service, value: Service, at: number): FlotillaEvent | undefined {
  const now = value.updateStatus;
  const before = previous.updateStatus;
  if (!now || (before?.state === now.state && before.specVersion === now.specVersion)) return undefined;
  const state = updateStateName(now.state);
  if (!state) return undefined;
  return {
    type: 'service.update',
    serviceId: value.id,
    serviceName: value.spec?.annotations?.name ?? '',
    state,
    version: Number(now.specVersion),
    message: clip(now.message),
    at,
  };
}

function updateStateName(state: UpdateStatus_State): UpdateStateName | undefined {
  return enumName(UpdateStatus_State, state, 'STATE_', UPDATE_STATES);
}

function nodeHead(node: Node, at: number) {
  return { nodeId: node.id, hostname: node.description?.hostname ?? '', at };
}

function downState(state: NodeStatus_State | undefined): NodeDownState | undefined {
  switch (state) {
    case NodeStatus_State.STATE_DOWN:
      return 'down';
    case NodeStatus_State.STATE_UNKNOWN:
      return 'unknown';
    case NodeStatus_State.STATE_DISCONNECTED:
      return 'disconnected';
    default:
      return undefined;
  }
}

function availabilityName(availability: NodeSpec_Availability | undefined): NodeAvailabilityName | undefined {
  return enumName(NodeSpec_Availability, availability, 'AVAILABILITY_', NODE_AVAILABILITIES);
}

/** A generated enum's member name without its prefix, lower case, if the event log knows it. */
function enumName<N extends string>(
  values: Record<number, string>,
  value: number | undefined,
  prefix: string,
  known: readonly N[],
): N | undefined {
  if (value === undefined) return undefined;
  const name = values[value]?.slice(prefix.length).toLowerCase();
  return known.find((k) => k === name);
}

function clip(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}
