import { Option } from '@commander-js/extra-typings';
import {
  isJobMode,
  type ListTasksResponse,
  type ManagerView,
  Node,
  Service,
  ServiceSummary,
  StackSummary,
  Task,
} from '@flotilla/api';
import { usageError } from '../exit-codes.js';
import { dockerManager, dockerNode, dockerService, dockerStack, dockerTask } from './docker-json.js';
import { compileTemplate, isTemplate } from './template.js';

/** The fields of each listing's rows, read off the converters so that the two cannot drift apart. */
export const LISTING_FIELDS = {
  service: Object.keys(dockerService(ServiceSummary.fromPartial({ service: Service.fromPartial({}) }))),
  task: Object.keys(dockerTask(Task.fromPartial({}), {})),
  node: [
    ...new Set([
      ...Object.keys(dockerNode(Node.fromPartial({}))),
      ...Object.keys(dockerManager({ leader: false, reachable: false })),
    ]),
  ],
  stack: Object.keys(dockerStack(StackSummary.fromPartial({}))),
} as const satisfies Record<string, readonly string[]>;

export type ListingKind = keyof typeof LISTING_FIELDS;

/** Throws the usage error a bad --format value deserves; the template itself is checked against the fields. */
export function checkFormat(format: string, kind: ListingKind): string {
  if (format === 'table' || format === 'json' || format === 'raw') return format;
  if (isTemplate(format) || format.startsWith('table ')) {
    compileTemplate(format, LISTING_FIELDS[kind]);
    return format;
  }
  throw usageError(`--format ${JSON.stringify(format)}: use table, json, raw, or a Go template such as '{{.ID}}'`);
}

/**
 * `--format` of a listing: table (the default), json (docker's fields), raw (the API's objects, for the fields
 * docker's listing has no place for), or a Go template over docker's fields. Checked as the line is read, so a
 * bad template exits 2 before the cluster is asked anything.
 */
export function dockerFormatOption(kind: ListingKind) {
  return new Option(
    '--format <FORMAT>',
    "table, json (docker's fields), raw (the API's objects), or a Go template such as '{{.Name}}' " +
      "or 'table {{.ID}}\\t{{.Name}}' (see the README for the fields)",
  )
    .argParser((value: string) => checkFormat(value, kind))
    .default('table');
}

interface Listing<T extends object> {
  format: string;
  kind: ListingKind;
  /** The rows in docker's shape. */
  rows: () => T[];
  /** The default table; a command that prints its table itself leaves it out. */
  table?: () => string;
  /** The API's objects, for --format raw. */
  raw: () => unknown;
}

/** A listing printed in the format asked for. */
export function renderListing<T extends object>(listing: Listing<T>): string {
  const format = checkFormat(listing.format, listing.kind);
  if (format === 'table') {
    if (!listing.table) throw new Error('renderListing: this listing prints its table itself');
    return listing.table();
  }
  if (format === 'json') return `${JSON.stringify(listing.rows(), null, 2)}\n`;
  if (format === 'raw') return `${JSON.stringify(listing.raw(), null, 2)}\n`;
  return compileTemplate(format, LISTING_FIELDS[listing.kind]).render(listing.rows());
}

/** `service ps`, `stack ps`: docker's rows of tasks, or the API's tasks for --format raw. */
export function taskListing(
  response: ListTasksResponse,
  format: string,
  table: () => string,
  now = Date.now(),
): string {
  return renderListing({
    format,
    kind: 'task',
    rows: () => response.tasks.map((t) => dockerTask(t, response.nodeNames, now)),
    table,
    raw: () => response.tasks.map((t) => Task.toJSON(t)),
  });
}

/** A service of `service ls --format raw`: the API's service with its task counts. */
export function rawServiceSummary(s: ServiceSummary): object {
  return {
    ...(s.service ? (Service.toJSON(s.service) as object) : {}),
    running: Number(s.running),
    desired: Number(s.desired),
    ...(isJobMode(s.service?.spec?.mode) ? { completed: Number(s.completed), completions: Number(s.completions) } : {}),
  };
}

/**
 * `node ls --format raw`: the API's nodes, a promoted node's manager as its managerStatus, and the managers that
 * run no agent in the shape of a node, told apart by their managerStatus.
 */
export function rawNodes(
  nodes: Node[],
  onNode: Map<string | undefined, ManagerView>,
  standalone: ManagerView[],
): object[] {
  const managerJson = standalone.map((m) => ({
    id: m.manager?.id ?? '',
    description: { hostname: m.manager?.hostname ?? '' },
    spec: { role: 'ROLE_MANAGER' },
    status: { state: m.reachable ? 'STATE_READY' : 'STATE_DOWN', address: m.manager?.address ?? '' },
    createdAtMs: String(m.manager?.createdAtMs ?? 0n),
    managerStatus: {
      leader: m.leader,
      reachability: m.reachable ? 'reachable' : 'unreachable',
      addr: m.manager?.address ?? '',
      etcdMember: m.manager?.etcdMember ?? false,
    },
  }));
  const nodeJson = nodes.map((n) => {
    const m = onNode.get(n.id);
    const json = Node.toJSON(n) as Record<string, unknown>;
    return m ? { ...json, managerStatus: promotedStatus(m) } : json;
  });
  return [...nodeJson, ...managerJson];
}

/** A promoted node's manager in `node ls --format raw`: the managerStatus docker gives a node. */
function promotedStatus(m: ManagerView) {
  return {
    leader: m.leader,
    reachability: m.reachable ? 'reachable' : 'unreachable',
    addr: m.manager?.address ?? '',
    etcdMember: m.manager?.etcdMember ?? false,
    managerId: m.manager?.id ?? '',
  };
}
