import { Code, FlotillaError } from '@flotilla/api';

/** Task states in the order they move (flotilla.v1.TaskState without the prefix, lower case). */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskStateName = (typeof TASK_STATES)[number];

/** Rolling update states (flotilla.v1.UpdateStatus.State without the prefix, lower case). */
export const UPDATE_STATES = [
  'updating',
  'paused',
  'completed',
  'rollback_started',
  'rollback_paused',
  'rollback_completed',
] as const;
export type UpdateStateName = (typeof UPDATE_STATES)[number];

export const SERVICE_ACTIONS = ['created', 'updated', 'rolled_back', 'removed'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

/** A task moved from one state to the next. `nodeId` is '' while the task is not assigned. */
export interface TaskStateEvent {
  type: 'task.state';
  taskId: string;
  serviceId: string;
  nodeId: string;
  from: TaskStateName;
  to: TaskStateName;
  message: string;
  /** The service's name and the task's slot (replicated services; 0 for global ones). */
  serviceName?: string;
  slot?: number;
  /** The container's exit code, once the task ended. */
  exitCode?: number;
  /** Milliseconds since the epoch, when the manager saw the transition (not when Redis stored it). */
  at: number;
}

/** A service spec was created, changed, rolled back or removed. */
export interface ServiceChangedEvent {
  type: 'service.changed';
  serviceId: string;
  serviceName: string;
  action: ServiceAction;
  /** The service's spec version after the change. */
  version: number;
  /** Replicas after the change (replicated services). */
  replicas?: number;
  at: number;
}

/** Progress of a rolling update or rollback: `updated` of `total` tasks are on the new spec, when known. */
export interface ServiceUpdateEvent {
  type: 'service.update';
  serviceId: string;
  serviceName?: string;
  state: UpdateStateName;
  /** The spec version being rolled out. */
  version?: number;
  updated?: number;
  total?: number;
  message: string;
  at: number;
}

export interface NodeUpEvent {
  type: 'node.up';
  nodeId: string;
  hostname: string;
  address: string;
  at: number;
}

/** How a node stopped being ready; `removed` when it left the cluster. */
export const NODE_DOWN_STATES = ['down', 'unknown', 'disconnected', 'removed'] as const;
export type NodeDownState = (typeof NODE_DOWN_STATES)[number];

export interface NodeDownEvent {
  type: 'node.down';
  nodeId: string;
  hostname: string;
  reason: string;
  state?: NodeDownState;
  at: number;
}

export const NODE_AVAILABILITIES = ['active', 'pause', 'drain'] as const;
export type NodeAvailabilityName = (typeof NODE_AVAILABILITIES)[number];

/** An operator changed whether a node takes tasks (`node update --availability`). */
export interface NodeAvailabilityEvent {
  type: 'node.availability';
  nodeId: string;
  hostname: string;
  availability: NodeAvailabilityName;
  at: number;
}

/** A manager took leadership. `leaderId` and `previousId` are '' when there is none. */
export interface LeaderChangedEvent {
  type: 'leader.changed';
  leaderId: string;
  previousId: string;
  at: number;
}

/** Whose certificate: a node's (worker), a manager's, or an operator's (the CLI). */
export const CERTIFICATE_ROLES = ['worker', 'manager', 'operator'] as const;
export type CertificateRole = (typeof CERTIFICATE_ROLES)[number];

/** A node, manager or operator renewed its certificate (same ID and role, a new key). */
export interface CertificateRenewedEvent {
  type: 'certificate.renewed';
  nodeId: string;
  role: CertificateRole;
  /** When the new certificate expires (ms since the epoch). */
  expiresAt: number;
  at: number;
}

/** An identity's certificates were revoked (a removed node, a demoted manager, an operator). */
export interface CertificateRevokedEvent {
  type: 'certificate.revoked';
  subjectId: string;
  /** Only this role's certificates; absent: every role. */
  role?: CertificateRole;
  reason: string;
  at: number;
}

/** A CA rotation started or ended (`cluster ca --rotate`): the fingerprint of the CA it moves to. */
export interface CaRotationEvent {
  type: 'certificate.ca-rotation';
  phase: (typeof CA_ROTATION_PHASES)[number];
  fingerprint: string;
  at: number;
}

export const CA_ROTATION_PHASES = ['started', 'finished'] as const;

export type FlotillaEvent =
  | CertificateRenewedEvent
  | CertificateRevokedEvent
  | CaRotationEvent
  | TaskStateEvent
  | ServiceChangedEvent
  | ServiceUpdateEvent
  | NodeUpEvent
  | NodeDownEvent
  | NodeAvailabilityEvent
  | LeaderChangedEvent;

export type FlotillaEventType = FlotillaEvent['type'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What `emit` takes: an event whose `at` defaults to now. */
export type EventInput = DistributiveOmit<FlotillaEvent, 'at'> & { at?: number };

/** The stream entry field that holds the JSON-encoded event. */
export const EVENT_FIELD = 'event';

type RequiredKind = 'id' | 'text' | 'count' | 'int' | 'time' | readonly string[];
type FieldKind = RequiredKind | { optional: RequiredKind };

// One table drives both directions, so an encoder and a decoder can never disagree about a type's fields.
// 'id' is a non-empty string, 'text' any string (may be empty), 'count' a non-negative integer, 'int' any
// integer. Fields added after the first release are optional, so entries written before them still decode.
const SCHEMAS: {
  [T in FlotillaEventType]: Record<Exclude<keyof Extract<FlotillaEvent, { type: T }>, 'type'>, FieldKind>;
} = {
  'task.state': {
    taskId: 'id',
    serviceId: 'id',
    nodeId: 'text',
    from: TASK_STATES,
    to: TASK_STATES,
    message: 'text',
    serviceName: { optional: 'text' },
    slot: { optional: 'count' },
    exitCode: { optional: 'int' },
    at: 'time',
  },
  'service.changed': {
    serviceId: 'id',
    serviceName: 'text',
    action: SERVICE_ACTIONS,
    version: 'count',
    replicas: { optional: 'count' },
    at: 'time',
  },
  'service.update': {
    serviceId: 'id',
    serviceName: { optional: 'text' },
    state: UPDATE_STATES,
    version: { optional: 'count' },
    updated: { optional: 'count' },
    total: { optional: 'count' },
    message: 'text',
    at: 'time',
  },
  'node.up': { nodeId: 'id', hostname: 'text', address: 'text', at: 'time' },
  'node.down': { nodeId: 'id', hostname: 'text', reason: 'text', state: { optional: NODE_DOWN_STATES }, at: 'time' },
  'node.availability': { nodeId: 'id', hostname: 'text', availability: NODE_AVAILABILITIES, at: 'time' },
  'leader.changed': { leaderId: 'text', previousId: 'text', at: 'time' },
  'certificate.renewed': { nodeId: 'id', role: CERTIFICATE_ROLES, expiresAt: 'time', at: 'time' },
  'certificate.revoked': { subjectId: 'id', role: { optional: CERTIFICATE_ROLES }, reason: 'text', at: 'time' },
  'certificate.ca-rotation': { phase: CA_ROTATION_PHASES, fingerprint: 'id', at: 'time' },
};

export const EVENT_TYPES = Object.keys(SCHEMAS) as FlotillaEventType[];

function fits(kind: RequiredKind, value: unknown): boolean {
  switch (kind) {
    case 'id':
      return typeof value === 'string' && value.length > 0;
    case 'text':
      return typeof value === 'string';
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0;
    case 'int':
      return Number.isSafeInteger(value);
    case 'time':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0;
    default:
      return typeof value === 'string' && kind.includes(value);
  }
}

/**
 * Checks an event against its type's fields and returns a copy with exactly those fields (unknown fields are
 * dropped, so a newer writer's additions do not leak into older readers' objects).
 */
export function validateEvent(value: unknown): FlotillaEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FlotillaError(Code.InvalidArgument, 'an event must be a JSON object', { reason: 'malformed' });
  }
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (typeof type !== 'string' || !Object.hasOwn(SCHEMAS, type)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `unknown event type ${JSON.stringify(type)}: expected one of ${EVENT_TYPES}`,
      { reason: 'malformed' },
    );
  }
  const schema = SCHEMAS[type as FlotillaEventType] as Record<string, FieldKind>;
  const out: Record<string, unknown> = { type };
  for (const [field, declared] of Object.entries(schema)) {
    const got = record[field];
    const optional = typeof declared === 'object' && 'optional' in declared;
    if (optional && got === undefined) continue;
    const kind = optional ? declared.optional : (declared as RequiredKind);
    if (!fits(kind, got)) {
      const want = (typeof kind === 'string' ? kind : kind.join('|')) + (optional ? ' or nothing' : '');
      throw new FlotillaError(
        Code.InvalidArgument,
        `${type}: field ${field} is ${JSON.stringify(got)}, expected ${want}`,
        { reason: 'malformed' },
      );
    }
    out[field] = got;
  }
  return out as unknown as FlotillaEvent;
}

/** Validates and encodes an event as the JSON stored in the stream entry's `event` field. */
export function encodeEvent(event: FlotillaEvent): string {
  return JSON.stringify(validateEvent(event));
}

/** Decodes one stream entry's fields (`[name, value, name, value, …]` as XRANGE/XREAD return them). */
export function decodeEntry(fields: readonly string[]): FlotillaEvent {
  let json: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === EVENT_FIELD) json = fields[i + 1];
  }
  if (json === undefined)
    throw new FlotillaError(Code.InvalidArgument, `the entry has no ${EVENT_FIELD} field`, { reason: 'malformed' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new FlotillaError(Code.InvalidArgument, `the ${EVENT_FIELD} field is not JSON: ${(err as Error).message}`, {
      cause: err,
      reason: 'malformed',
    });
  }
  return validateEvent(parsed);
}
