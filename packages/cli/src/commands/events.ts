import { Command, Option } from '@commander-js/extra-typings';
import type { ClusterEvent, ControlServiceClient, EventsRequest } from '@flotilla/api';
import { Metadata } from '@grpc/grpc-js';
import { controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import { followStream } from '../follow-stream.js';
import type { Io } from '../io.js';
import { parseSince } from './service-logs.js';

/** The kinds `--filter type=` takes, as the managers know them. */
export const EVENT_TYPES = ['service', 'task', 'node', 'leader', 'certificate'] as const;
const FILTER_KEYS = ['type', 'service', 'node'] as const;

export interface EventFilters {
  types: string[];
  services: string[];
  nodes: string[];
}

/** `--filter key=value`, repeatable, as docker takes it: type=service|task|node|leader|certificate, service=NAME, node=NAME. */
export function parseFilters(values: readonly string[]): EventFilters {
  const filters: EventFilters = { types: [], services: [], nodes: [] };
  for (const text of values) {
    const eq = text.indexOf('=');
    const key = text.slice(0, eq).trim();
    const value = text.slice(eq + 1).trim();
    if (eq < 0 || !value)
      throw usageError(`--filter takes key=value (type=service, service=web, node=host-1), got "${text}"`);
    switch (key) {
      case 'type':
        if (!(EVENT_TYPES as readonly string[]).includes(value)) {
          throw usageError(`--filter type= takes ${EVENT_TYPES.join(', ')}; got "${value}"`);
        }
        filters.types.push(value);
        break;
      case 'service':
        filters.services.push(value);
        break;
      case 'node':
        filters.nodes.push(value);
        break;
      default:
        throw usageError(`--filter takes the keys ${FILTER_KEYS.join(', ')}; got "${key}"`);
    }
  }
  return filters;
}

/** The request `flotilla events` makes from its flags; `now` anchors durations (10m: ten minutes ago). */
export function eventsRequest(
  opts: { since?: string; until?: string; filter?: string[] },
  now = Date.now(),
): EventsRequest {
  const since = opts.since === undefined ? 0 : Math.max(0, parseSince(opts.since, now, '--since'));
  const until = opts.until === undefined ? 0 : Math.max(0, parseSince(opts.until, now, '--until'));
  if (opts.until !== undefined && until === 0) throw usageError('--until must be a time after 1970');
  if (until > 0 && until < since) throw usageError('--until must not be before --since');
  return { sinceMs: BigInt(since), untilMs: BigInt(until), ...parseFilters(opts.filter ?? []) };
}

/** One event as a line, like docker's: `TIME TYPE ACTION NAME (key=value, …)`. */
export function formatEvent(event: ClusterEvent): string {
  const time = new Date(Number(event.atMs)).toISOString();
  const attributes = Object.entries(event.attributes).map(([k, v]) => `${k}=${v}`);
  const details = attributes.length > 0 ? ` (${attributes.join(', ')})` : '';
  return `${time} ${event.type} ${event.action} ${event.actorName || event.actorId}${details}`;
}

/** One event as a JSON object, in the shape of docker's (`Type`, `Action`, `Actor.ID`, `Actor.Attributes`, `time`). */
export function eventJson(event: ClusterEvent): object {
  const atMs = Number(event.atMs);
  const name = event.actorName ? { name: event.actorName } : {};
  return {
    id: event.id,
    Type: event.type,
    Action: event.action,
    Actor: { ID: event.actorId, Attributes: { ...name, ...event.attributes } },
    time: Math.floor(atMs / 1000),
    timeNano: atMs * 1_000_000,
    timeString: new Date(atMs).toISOString(),
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `flotilla events`: the cluster's events as they happen, like `docker events`. */
export function eventsCommand(io: Io, client: () => ControlServiceClient = () => controlClient()) {
  return new Command('events')
    .description("print the cluster's events as they happen (needs managers started with --redis)")
    .option('--since <TIME>', 'first the stored events since a time (2024-05-01T10:00:00Z) or a duration ago (10m)')
    .option('--until <TIME>', 'stop after the events up to a time or a duration ago (default: follow until Ctrl-C)')
    .option(
      '-f, --filter <KEY=VALUE>',
      'only matching events: type=service|task|node|leader|certificate, service=NAME, node=NAME (repeatable)',
      collect,
    )
    .addOption(
      new Option('--format <FORMAT>', 'output format: one line per event, or one JSON object per line')
        .choices(['text', 'json'] as const)
        .default('text' as const),
    )
    .action(async (opts) => {
      const request = eventsRequest(opts);
      const print =
        opts.format === 'json'
          ? (e: ClusterEvent) => io.out(`${JSON.stringify(eventJson(e))}\n`)
          : (e: ClusterEvent) => io.out(`${formatEvent(e)}\n`);
      const c = client();
      try {
        await streamEvents(c, request, print);
      } finally {
        c.close();
      }
    });
}

/** Prints events until the stream ends (or Ctrl-C). */
function streamEvents(
  c: ControlServiceClient,
  request: EventsRequest,
  print: (e: ClusterEvent) => void,
): Promise<void> {
  return followStream(c.events(request, new Metadata()), (response: { events: ClusterEvent[] }) => {
    for (const event of response.events) print(event);
  });
}
