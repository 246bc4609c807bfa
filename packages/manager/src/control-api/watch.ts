import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  type Node,
  type Service,
  type Task,
  type WatchChange,
  type WatchRequest,
  type WatchResponse,
  type WatchSnapshot,
} from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import { KINDS, prefixEnd, prefixOf, type Store } from '@flotilla/store';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { IWatchResponse, Watcher } from 'etcd3';
import { type OpenStreams, streamCall } from './stream-call.js';

export const WATCH_KINDS = ['nodes', 'services', 'tasks'] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

/**
 * Bounds of one manager's watches: calls open at once; changes queued per call while its caller reads slower than
 * they come (a 10,000-task deploy fits; past it the call ends and the caller starts again from a new snapshot);
 * bytes of objects per snapshot part (each message stays well under gRPC's 4 MiB default, whatever the cluster's
 * size).
 */
export const WATCH_LIMITS = { watchers: 64, queued: 20_000, snapshotPartBytes: 1024 * 1024 } as const;

export interface WatchOptions {
  stopping?: AbortSignal;
  streams?: OpenStreams;
  logger?: Logger;
  /** Changes queued per call before it is ended with RESOURCE_EXHAUSTED (default WATCH_LIMITS.queued). */
  watchQueueLimit?: number;
}

type WatchCall = ServerWritableStream<WatchRequest, WatchResponse>;

/**
 * `Watch`: nodes, services and tasks as the store holds them, read at one etcd revision, then every change after it
 * from etcd watches started at the next revision, so nothing written between the two is lost. Any manager serves it
 * (it reads etcd only). What the caller has not read yet is queued up to a cap; past it the call ends with
 * RESOURCE_EXHAUSTED rather than grow the manager's memory.
 */
export function clusterWatch(
  store: Store,
  ca: CertificateAuthority,
  options: WatchOptions = {},
): ControlServiceServer['watch'] {
  const { stopping, streams, logger } = options;
  const limit = options.watchQueueLimit ?? WATCH_LIMITS.queued;
  let open = 0;
  return (call) =>
    streamCall(call, { ca, what: 'the cluster watch', stopping, streams, logger }, async (signal) => {
      open++;
      try {
        if (open > WATCH_LIMITS.watchers) {
          throw new FlotillaError(
            Code.ResourceExhausted,
            `this manager already serves ${WATCH_LIMITS.watchers} watches: retry later or ask another manager`,
          );
        }
        await new WatchSession(store, call, kindsOf(call.request), limit, signal).run();
      } finally {
        open--;
      }
    });
}

function kindsOf(request: WatchRequest): WatchKind[] {
  if (request.kinds.length === 0) return [...WATCH_KINDS];
  const unknown = request.kinds.find((k) => !(WATCH_KINDS as readonly string[]).includes(k));
  if (unknown !== undefined) {
    throw new FlotillaError(Code.InvalidArgument, `unknown kind ${JSON.stringify(unknown)}: use ${WATCH_KINDS}`);
  }
  return [...new Set(request.kinds as WatchKind[])];
}

/** One call: the snapshot, then the queue of changes, written as fast as the caller reads them. */
class WatchSession {
  private readonly queue: WatchResponse[] = [];
  private readonly watchers: Watcher[] = [];
  private readonly wake = new AbortController();
  private waiting: (() => void) | undefined;
  private failure: FlotillaError | undefined;

  constructor(
    private readonly store: Store,
    private readonly call: WatchCall,
    private readonly kinds: WatchKind[],
    private readonly limit: number,
    private readonly signal: AbortSignal,
  ) {}

  async run(): Promise<void> {
    const snapshot = await this.read();
    try {
      // Watches start after the read, at the revision after it: a write in between comes as a change.
      for (const kind of this.kinds) this.watchers.push(await this.watch(kind, snapshot.revision + 1n));
      await this.sendSnapshot(snapshot);
      await this.drain();
    } finally {
      // A watch that cannot be cancelled went with its connection.
      await Promise.all(this.watchers.map((w) => w.cancel().catch(() => undefined)));
    }
  }

  /** Every object of the kinds asked for, all at the revision of the first list. */
  private async read(): Promise<{ revision: bigint; objects: Listed[] }> {
    const objects: Listed[] = [];
    let revision: bigint | undefined;
    for (const kind of this.kinds) {
      const listed = await listAt(this.store, kind, revision);
      revision ??= listed.revision;
      objects.push(...listed.items);
    }
    return { revision: revision ?? 0n, objects };
  }

  private async watch(kind: WatchKind, from: bigint): Promise<Watcher> {
    const watcher = await this.store.client.watch().prefix(prefixOf(kind)).startRevision(from.toString()).create();
    watcher.on('data', (res: IWatchResponse) => this.changes(kind, res));
    // The etcd client resumes a dropped connection by itself; an error is a watch it cannot resume (its revision was
    // compacted away): the caller starts again from a new snapshot.
    watcher.on('error', () =>
      this.fail(
        new FlotillaError(Code.Unavailable, 'the manager lost its etcd watch: call Watch again for a new snapshot'),
      ),
    );
    return watcher;
  }

  private changes(kind: WatchKind, res: IWatchResponse): void {
    for (const event of res.events) {
      const id = event.kv.key.toString().slice(prefixOf(kind).length);
      const change: WatchChange = {
        kind,
        deleted: event.type === 'Delete',
        id,
        revision: BigInt(event.kv.mod_revision),
      };
      if (!change.deleted) {
        const value = decode(kind, event.kv.value);
        // An undecodable value is left out, as the informers leave it out.
        if (value === undefined) continue;
        Object.assign(change, { [singular[kind]]: value });
      }
      this.enqueue({ change });
    }
  }

  private enqueue(message: WatchResponse): void {
    if (this.failure) return;
    if (this.queue.length >= this.limit) {
      this.fail(
        new FlotillaError(
          Code.ResourceExhausted,
          `the caller read changes slower than they came (${this.limit} waiting): call Watch again for a new snapshot`,
        ),
      );
      return;
    }
    this.queue.push(message);
    this.waiting?.();
  }

  private fail(err: FlotillaError): void {
    this.failure ??= err;
    this.queue.length = 0;
    this.wake.abort();
    this.waiting?.();
  }

  /** The snapshot in parts of about WATCH_LIMITS.snapshotPartBytes; the last part carries no `more`. */
  private async sendSnapshot({ revision, objects }: { revision: bigint; objects: Listed[] }): Promise<void> {
    let start = 0;
    do {
      const part: WatchSnapshot = { nodes: [], services: [], tasks: [], revision, more: false };
      let bytes = 0;
      while (start < objects.length && (bytes === 0 || bytes < WATCH_LIMITS.snapshotPartBytes)) {
        const { kind, value, size } = objects[start] as Listed;
        if (bytes > 0 && bytes + size > WATCH_LIMITS.snapshotPartBytes) break;
        (part[kind] as ObjectOfWatch[]).push(value);
        bytes += size;
        start++;
      }
      part.more = start < objects.length;
      await this.send({ snapshot: part });
    } while (start < objects.length);
  }

  /** Writes queued changes until the call ends or fails. */
  private async drain(): Promise<void> {
    while (!this.signal.aborted) {
      if (this.failure) throw this.failure;
      const next = this.queue.shift();
      if (next) {
        await this.send(next);
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiting = undefined;
          this.signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiting = done;
        this.signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Writes one message, waiting while the caller's window is full (gRPC flow control); the queue grows meanwhile. */
  private send(message: WatchResponse): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.call.write(message)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.call.off('drain', done);
        this.signal.removeEventListener('abort', done);
        this.wake.signal.removeEventListener('abort', done);
        if (this.failure) reject(this.failure);
        else resolve();
      };
      this.call.once('drain', done);
      this.signal.addEventListener('abort', done, { once: true });
      this.wake.signal.addEventListener('abort', done, { once: true });
    });
  }
}

const singular = { nodes: 'node', services: 'service', tasks: 'task' } as const;

type ObjectOfWatch = Node | Service | Task;

/** An object read for a snapshot, with its size as stored (what it takes in a message, near enough). */
interface Listed {
  kind: WatchKind;
  value: ObjectOfWatch;
  size: number;
}

function decode(kind: WatchKind, bytes: Buffer): ObjectOfWatch | undefined {
  try {
    return KINDS[kind].decode(bytes);
  } catch {
    return undefined;
  }
}

/** Keys per etcd range: pages stay under gRPC's 4 MiB message limit even with large objects. */
const PAGE = 256;

/** A kind's objects at `revision` (the newest when undefined), read in pages, and the revision read. */
async function listAt(
  store: Store,
  kind: WatchKind,
  revision: bigint | undefined,
): Promise<{ items: Listed[]; revision: bigint }> {
  const prefix = prefixOf(kind);
  const items: Listed[] = [];
  let from = Buffer.from(prefix);
  let at = revision;
  for (;;) {
    let response: Awaited<ReturnType<Store['client']['kv']['range']>>;
    try {
      response = await store.client.kv.range({
        key: from,
        range_end: Buffer.from(prefixEnd(prefix)),
        limit: PAGE,
        ...(at === undefined ? {} : { revision: at.toString() }),
      });
    } catch (err) {
      throw new FlotillaError(
        Code.Unavailable,
        `cannot read the cluster from etcd: ${FlotillaError.from(err).message}`,
      );
    }
    // Every page at the revision of the first one.
    at ??= BigInt(response.header.revision);
    for (const kv of response.kvs) {
      const value = decode(kind, kv.value);
      if (value !== undefined) items.push({ kind, value, size: kv.value.length });
    }
    const last = response.kvs.at(-1);
    if (!response.more || !last) return { items, revision: at };
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}
