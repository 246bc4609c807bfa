import { Code, type ControlServiceServer, type EventsRequest, type EventsResponse, FlotillaError } from '@flotilla/api';
import { type EventReader, previousStreamId, type StoredEvent } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { type OpenStreams, streamCall } from '../stream-call.js';
import { clusterEvent, EVENT_KINDS, type EventFilter, type EventKind, matchesFilter } from './event-view.js';

/** What one call may ask for: filters are short lists of short names; few calls follow at once. */
export const EVENT_LIMITS = { filterValues: 16, valueLength: 256, followers: 64 } as const;
// Past `until`, a follow waits this long for events stored up to it that are still on their way.
const UNTIL_SLACK_MS = 500;

export interface ClusterEventsOptions {
  /** Aborted when the manager stops: open calls end. */
  stopping?: AbortSignal;
  /** The long calls open now: a revoked caller's follow ends. */
  streams?: OpenStreams;
  logger?: Logger;
}

/**
 * `Events`: the cluster's events from the event log, like `docker events`. Any manager serves it (it reads only
 * Redis, and etcd once for node names). Stored events from `since` come first, then new ones as the leader writes
 * them, until the caller cancels, the manager stops, or `until` passes.
 */
export function clusterEvents(
  store: Store,
  ca: CertificateAuthority,
  reader: EventReader | undefined,
  options: ClusterEventsOptions = {},
): ControlServiceServer['events'] {
  const { stopping, streams, logger } = options;
  let following = 0;
  return (call) =>
    streamCall(call, { ca, what: 'events', stopping, streams, logger }, async (signal) => {
      following++;
      try {
        if (!reader) {
          throw new FlotillaError(
            Code.FailedPrecondition,
            'events are off: start the managers with --redis HOST:PORT (the leader writes the event log there)',
          );
        }
        if (following > EVENT_LIMITS.followers) {
          throw new FlotillaError(
            Code.ResourceExhausted,
            `this manager already streams events to ${EVENT_LIMITS.followers} callers: retry later or ask another manager`,
          );
        }
        const filter = await eventFilter(store, call.request);
        await streamEvents(reader, call, filter, signal);
      } finally {
        following--;
      }
    });
}

/** Checks the request's bounds and turns its filters into one the events are matched against. */
export async function eventFilter(store: Store, request: EventsRequest): Promise<EventFilter> {
  const { sinceMs, untilMs, types, services, nodes } = request;
  if (sinceMs < 0n || untilMs < 0n) throw invalid('since and until must be times after 1970');
  if (untilMs > 0n && untilMs < sinceMs) throw invalid('until must not be before since');
  for (const [name, values] of [
    ['type', types],
    ['service', services],
    ['node', nodes],
  ] as const) {
    if (values.length > EVENT_LIMITS.filterValues) {
      throw invalid(`at most ${EVENT_LIMITS.filterValues} ${name} filters, got ${values.length}`);
    }
    const bad = values.find((v) => v.length === 0 || v.length > EVENT_LIMITS.valueLength);
    if (bad !== undefined) throw invalid(`a ${name} filter must have 1 to ${EVENT_LIMITS.valueLength} characters`);
  }
  const unknown = types.find((t) => !(EVENT_KINDS as readonly string[]).includes(t));
  if (unknown !== undefined) throw invalid(`unknown event type ${JSON.stringify(unknown)}: use ${EVENT_KINDS}`);
  const nodeIds = new Set<string>();
  if (nodes.length > 0) {
    const listed = await store.list('nodes');
    for (const node of listed.items) {
      if (nodes.includes(node.value.description?.hostname ?? '')) nodeIds.add(node.id);
    }
  }
  return { kinds: new Set(types as EventKind[]), services, nodes, nodeIds };
}

type EventsCall = ServerWritableStream<EventsRequest, EventsResponse>;

/** Reads the log from `since` (or from now), then follows it unless `until` has passed; sends what matches. */
async function streamEvents(reader: EventReader, call: EventsCall, filter: EventFilter, signal: AbortSignal) {
  const since = Number(call.request.sinceMs);
  const until = call.request.untilMs > 0n ? Number(call.request.untilMs) : undefined;
  const after = since > 0 ? previousStreamId(`${since}-0`) : undefined;
  let events: AsyncIterable<StoredEvent>;
  let timer: NodeJS.Timeout | undefined;
  const stop = new AbortController();
  if (until !== undefined && until + UNTIL_SLACK_MS <= Date.now()) {
    events = reader.replay({ ...(after ? { after } : {}), to: `${until}-18446744073709551615` });
  } else {
    if (until !== undefined) timer = setTimeout(() => stop.abort(), until + UNTIL_SLACK_MS - Date.now());
    events = reader.tail({ after: after ?? '$', signal: AbortSignal.any([signal, stop.signal]) });
  }
  try {
    for await (const stored of events) {
      if (signal.aborted) return;
      if (until !== undefined && storedAt(stored.id) > until) return;
      if (!matchesFilter(stored.event, filter)) continue;
      await send(call, { events: [clusterEvent(stored)] }, signal);
    }
  } finally {
    clearTimeout(timer);
  }
}

function storedAt(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Writes one message, waiting while the caller reads slower than events come (gRPC flow control). */
function send(call: EventsCall, message: EventsResponse, signal: AbortSignal): Promise<void> {
  if (call.write(message)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function invalid(message: string): FlotillaError {
  return new FlotillaError(Code.InvalidArgument, message);
}
