import {
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
  ServiceSpec,
  type Task,
  TaskHealth,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import type { Resources, UiNode, UiRevision, UiTask } from '../model.js';

// The UI's own small converters from the API's objects to the page's model. The CLI has similar ones, but the CLI
// depends on this package, so they cannot be shared from there; the words are docker's, in lower case.

/** An enum value's name without its prefix, in lower case (`TASK_STATE_RUNNING` → `running`); empty if unset. */
export function enumWord(names: object, value: number | undefined, prefix: string): string {
  const name = (names as Record<number, string>)[value ?? 0] ?? '';
  return name.endsWith('_UNSPECIFIED') ? '' : name.slice(prefix.length).toLowerCase();
}

export const taskStateWord = (state: TaskState | undefined) => enumWord(TaskState, state, 'TASK_STATE_');

const MODE: Record<number, string> = {
  [ServiceMode.SERVICE_MODE_REPLICATED]: 'replicated',
  [ServiceMode.SERVICE_MODE_GLOBAL]: 'global',
  [ServiceMode.SERVICE_MODE_REPLICATED_JOB]: 'replicated job',
  [ServiceMode.SERVICE_MODE_GLOBAL_JOB]: 'global job',
};

export const modeWord = (mode: ServiceMode | undefined) => MODE[mode ?? 0] ?? 'replicated';

export const updateStateWord = (state: UpdateStatus_State | undefined) => enumWord(UpdateStatus_State, state, 'STATE_');

/** Published ports as docker lists them: `*:8080->80/tcp`; host-mode ports without the `*`. */
export function portsWord(ports: readonly PortConfig[]): string {
  return ports
    .filter((p) => p.publishedPort > 0)
    .map((p) => {
      const protocol = enumWord(PortConfig_Protocol, p.protocol, 'PROTOCOL_') || 'tcp';
      const host = p.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST ? p.hostIp : p.hostIp || '*';
      return `${host ? `${host}:` : ''}${p.publishedPort}->${p.targetPort}/${protocol}`;
    })
    .join(', ');
}

export const serviceName = (s: Service) => s.spec?.annotations?.name ?? s.id;

/** docker's task name: SERVICE.SLOT, or SERVICE.NODE-ID for a global service's task. */
export const taskName = (t: Task) => `${t.serviceName}.${t.slot === 0n ? t.nodeId : t.slot}`;

/** The reservations a task holds on its node. */
export function taskReservation(t: Task): Resources {
  const r = t.resources?.reservations;
  return { nanoCpus: Number(r?.nanoCpus ?? 0n), memoryBytes: Number(r?.memoryBytes ?? 0n) };
}

export function uiTask(t: Task): UiTask {
  const status = t.status;
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName: t.serviceName,
    slot: Number(t.slot),
    name: taskName(t),
    nodeId: t.nodeId,
    state: taskStateWord(status?.state) || 'unknown',
    desiredState: taskStateWord(t.desiredState),
    health: enumWord(TaskHealth, status?.health, 'TASK_HEALTH_'),
    exitCode: status?.exitCode ?? 0,
    error: status?.error ?? '',
    message: status?.message ?? '',
    image: t.spec?.image ?? '',
    specVersion: Number(t.specVersion),
    stateSince: Number(status?.timestampMs ?? 0n),
    createdAt: Number(t.createdAtMs),
    mainTaskId: t.mainTaskId,
  };
}

export function managerStatusWord(m: ManagerView | undefined): string {
  if (!m) return '';
  return m.leader ? 'Leader' : m.reachable ? 'Reachable' : 'Unreachable';
}

export function uiNode(n: Node, manager: ManagerView | undefined, reserved: Resources): UiNode {
  const manages = manager !== undefined || n.spec?.role === NodeSpec_Role.ROLE_MANAGER;
  return {
    id: n.id,
    hostname: n.description?.hostname ?? '',
    role: manages ? 'manager' : 'worker',
    status: enumWord(NodeStatus_State, n.status?.state, 'STATE_') || 'unknown',
    availability: enumWord(NodeSpec_Availability, n.spec?.availability, 'AVAILABILITY_') || 'active',
    managerStatus: managerStatusWord(manager),
    address: n.status?.address || n.description?.addresses[0] || '',
    labels: { ...n.spec?.labels },
    executor: n.description?.executor || 'containerd',
    capacity: {
      nanoCpus: Number(n.description?.nanoCpus ?? 0n),
      memoryBytes: Number(n.description?.memoryBytes ?? 0n),
    },
    reserved,
    updatedAt: Number(n.updatedAtMs),
  };
}

/** The current spec first, then the past ones, newest first. */
export function revisions(s: Service): UiRevision[] {
  const current = { specVersion: Number(s.specVersion), replacedAt: 0, image: s.spec?.container?.image ?? '' };
  return [
    current,
    ...s.specHistory.map((p) => ({
      specVersion: Number(p.specVersion),
      replacedAt: Number(p.replacedAtMs),
      image: p.spec?.container?.image ?? '',
    })),
  ];
}

const MAX_CHANGE_LINES = 20;
const MAX_VALUE_CHARS = 80;

/**
 * The previous spec against the current one, a line per changed field (`container.image: a → b`). Environment values
 * never show (only which variables changed): they are often credentials, and the page is not the place for them.
 */
export function lastChange(previous: ServiceSpec | undefined, current: ServiceSpec | undefined): string[] {
  if (!previous || !current) return [];
  const before = flatten(specJson(previous));
  const after = flatten(specJson(current));
  const lines: string[] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(key);
    const b = after.get(key);
    if (a !== b) lines.push(`${key}: ${short(a)} → ${short(b)}`);
  }
  lines.push(...envChanges(previous.container?.env ?? [], current.container?.env ?? []));
  return lines.length > MAX_CHANGE_LINES ? [...lines.slice(0, MAX_CHANGE_LINES), '…'] : lines;
}

/** The spec as JSON, without its environment (envChanges says what changed there). */
function specJson(spec: ServiceSpec): unknown {
  const json = ServiceSpec.toJSON(spec) as { container?: { env?: string[] } };
  if (json.container) json.container = { ...json.container, env: undefined };
  return json;
}

/** Which environment variables were set, unset or changed: their names only, never a value. */
function envChanges(before: readonly string[], after: readonly string[]): string[] {
  const parse = (env: readonly string[]) =>
    new Map(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  const a = parse(before);
  const b = parse(after);
  const lines: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const was = a.get(name);
    const is = b.get(name);
    if (was === is) continue;
    const path = `container.env.${name}`;
    if (was === undefined) lines.push(`${path}: (none) → (set)`);
    else if (is === undefined) lines.push(`${path}: (set) → (none)`);
    else lines.push(`${path}: (set) → (changed)`);
  }
  return lines;
}

/** Leaves of a JSON value by dotted path; arrays of scalars stay whole (`[a, b]`), arrays of objects by index. */
function flatten(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) out.set(path, `[${value.join(', ')}]`);
    else for (const [i, v] of value.entries()) flatten(v, `${path}[${i}]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) flatten(v, path ? `${path}.${key}` : key, out);
  } else if (value !== undefined) {
    out.set(path, String(value));
  }
  return out;
}

function short(value: string | undefined): string {
  if (value === undefined || value === '') return '(none)';
  return value.length > MAX_VALUE_CHARS ? `${value.slice(0, MAX_VALUE_CHARS - 1)}…` : value;
}

export const TASK_RUNNING = TaskState.TASK_STATE_RUNNING;
