import type { ClusterEvent } from '@flotilla/api';
import type { FlotillaEvent, StoredEvent } from '@flotilla/events';

/** The kinds of object events are about, as `--filter type=` names them. */
export const EVENT_KINDS = ['service', 'task', 'node', 'leader', 'certificate'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export function eventKind(event: FlotillaEvent): EventKind {
  return event.type.slice(0, event.type.indexOf('.')) as EventKind;
}

/** What one call wants: kinds, and services and nodes by name, ID or ID prefix. Empty lists match everything. */
export interface EventFilter {
  kinds: ReadonlySet<EventKind>;
  services: readonly string[];
  nodes: readonly string[];
  /** Node IDs whose hostname is one of `nodes` (task events carry only the node's ID). */
  nodeIds: ReadonlySet<string>;
}

/** Whether an event passes the filter: every kind of filter given must match (as docker's filters combine). */
export function matchesFilter(event: FlotillaEvent, filter: EventFilter): boolean {
  if (filter.kinds.size > 0 && !filter.kinds.has(eventKind(event))) return false;
  if (filter.services.length > 0) {
    if (!('serviceId' in event)) return false;
    const name = 'serviceName' in event ? event.serviceName : undefined;
    if (!filter.services.some((s) => refersTo(s, event.serviceId, name))) return false;
  }
  if (filter.nodes.length > 0) {
    const nodeId = event.type === 'leader.changed' ? event.leaderId : 'nodeId' in event ? event.nodeId : '';
    if (!nodeId) return false;
    const hostname = 'hostname' in event ? event.hostname : undefined;
    if (!filter.nodeIds.has(nodeId) && !filter.nodes.some((n) => refersTo(n, nodeId, hostname))) return false;
  }
  return true;
}

function refersTo(ref: string, id: string, name: string | undefined): boolean {
  return id.startsWith(ref) || (name !== undefined && name === ref);
}

const SERVICE_ACTIONS = { created: 'create', updated: 'update', rolled_back: 'rollback', removed: 'remove' } as const;

/**
 * An event as the control API sends it, shaped like Docker's (type, action, actor, attributes), so that the CLI
 * prints every kind the same way and a new kind needs no new message.
 */
export function clusterEvent({ id, event }: StoredEvent): ClusterEvent {
  const base = { id, atMs: BigInt(event.at), type: eventKind(event) };
  switch (event.type) {
    case 'service.changed':
      return {
        ...base,
        action: SERVICE_ACTIONS[event.action],
        actorId: event.serviceId,
        actorName: event.serviceName,
        attributes: attributes({ version: event.version, replicas: event.replicas }),
      };
    case 'service.update':
      return {
        ...base,
        action: event.state.startsWith('rollback') ? 'rollback' : 'update',
        actorId: event.serviceId,
        actorName: event.serviceName ?? '',
        attributes: attributes({
          state: event.state,
          version: event.version,
          updated: event.updated,
          total: event.total,
          message: event.message,
        }),
      };
    case 'task.state':
      return {
        ...base,
        action: event.to,
        actorId: event.taskId,
        actorName: event.serviceName ? `${event.serviceName}.${event.slot || event.nodeId}` : '',
        attributes: attributes({
          service: event.serviceName,
          serviceId: event.serviceId,
          node: event.nodeId,
          // A task just made is new from new: nothing to say.
          from: event.from === event.to ? undefined : event.from,
          exitCode: event.exitCode,
          message: event.message,
        }),
      };
    case 'certificate.renewed':
      return {
        ...base,
        action: 'renew',
        actorId: event.nodeId,
        actorName: '',
        attributes: attributes({ role: event.role, expires: new Date(event.expiresAt).toISOString() }),
      };
    case 'certificate.revoked':
      return {
        ...base,
        action: 'revoke',
        actorId: event.subjectId,
        actorName: '',
        attributes: attributes({ role: event.role, reason: event.reason }),
      };
    case 'certificate.ca-rotation':
      return {
        ...base,
        action: event.phase === 'started' ? 'ca-rotate' : 'ca-rotated',
        actorId: event.fingerprint,
        actorName: '',
        attributes: attributes({ phase: event.phase }),
      };
    default:
      return nodeOrLeader(base, event);
  }
}

function nodeOrLeader(
  base: Pick<ClusterEvent, 'id' | 'atMs' | 'type'>,
  event: Extract<FlotillaEvent, { type: 'node.up' | 'node.down' | 'node.availability' | 'leader.changed' }>,
): ClusterEvent {
  switch (event.type) {
    case 'node.up':
      return {
        ...base,
        action: 'ready',
        actorId: event.nodeId,
        actorName: event.hostname,
        attributes: attributes({ address: event.address }),
      };
    case 'node.down':
      return {
        ...base,
        action: event.state ?? 'down',
        actorId: event.nodeId,
        actorName: event.hostname,
        attributes: attributes({ reason: event.reason }),
      };
    case 'node.availability':
      return { ...base, action: event.availability, actorId: event.nodeId, actorName: event.hostname, attributes: {} };
    case 'leader.changed':
      return {
        ...base,
        action: 'change',
        actorId: event.leaderId,
        actorName: '',
        attributes: attributes({ previous: event.previousId }),
      };
  }
}

/** Attributes with a value: unset fields and empty text are left out. */
function attributes(values: Record<string, string | number | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== '') out[key] = String(value);
  }
  return out;
}
