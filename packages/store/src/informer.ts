import type { IWatchResponse, Watcher } from 'etcd3';
import { etcdFailure } from './etcd-failure.js';
import { KINDS, type Kind, type ObjectOf, prefixOf } from './kinds.js';
import type { Store, Versioned } from './store.js';

export type Change<T> =
  | { type: 'put'; id: string; value: T; version: bigint; previous?: T }
  | { type: 'delete'; id: string; previous?: T };

/** The changes of one etcd revision: one transaction, delivered whole, so a loop never sees half a commit. */
export interface ChangeSet<T> {
  revision: bigint;
  changes: Change<T>[];
  /** True when the set was made by re-listing (after compaction), not read from the watch. */
  relisted: boolean;
}

export interface InformerStatus {
  /** The etcd revision the cache reflects. */
  revision: bigint;
  /** Whether the watch is connected; while it is not, the cache may be behind. */
  connected: boolean;
  /** How long the watch has been disconnected (0 while connected). */
  staleForMs: number;
  /** Times the cache was rebuilt from a fresh list (start, and after each compaction). */
  relists: number;
  /** Values that could not be decoded and were skipped. */
  undecodable: number;
}

/**
 * A cache of one kind of object, kept current by a watch (an informer): list at revision R, watch from R+1,
 * apply and deliver changes one revision at a time. The etcd client resumes a dropped watch from the last
 * revision it saw; when that revision has been compacted away, the informer lists again and delivers the
 * difference. Its revision and staleness are always visible through `status()`.
 */
export class Informer<K extends Kind> {
  private readonly cache = new Map<string, Versioned<ObjectOf<K>>>();
  private readonly listeners = new Set<(set: ChangeSet<ObjectOf<K>>) => void>();
  private watcher: Watcher | undefined;
  private started: Promise<void> | undefined;
  private stopped = false;
  private revision = 0n;
  private connected = false;
  private disconnectedAt = 0;
  private relists = 0;
  private undecodable = 0;

  constructor(
    private readonly store: Store,
    readonly kind: K,
    private readonly options: { retryDelayMs?: number } = {},
  ) {}

  /**
   * Lists and starts watching; resolves once the cache holds the list. Loops that share one informer each call
   * it: the first call starts it, the others wait for the same start.
   */
  start(): Promise<void> {
    // A failed start may be tried again.
    this.started ??= this.relist().catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // A watch that cannot be cancelled went with its connection.
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** Listens to change sets; returns the function that stops listening. */
  subscribe(listener: (set: ChangeSet<ObjectOf<K>>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once the cache reflects `revision` (a write of this kind committed there), or after the timeout:
   * a loop waits for its own writes before deciding again, so it never acts twice on the same state.
   */
  caughtUp(revision: bigint, timeoutMs = 5_000): Promise<boolean> {
    if (this.revision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const unsubscribe = this.subscribe(() => {
        if (this.revision >= revision) done(true);
      });
    });
  }

  /**
   * Resolves once the cache holds every object of its kind created or changed up to `revision`, which another
   * informer has reached: at once when this one is there, or when etcd says nothing of this kind changed since
   * (its watch may then not reach that revision for a while), else when the watch brings the changes, or after the
   * timeout (false).
   */
  async holdsUpTo(revision: bigint, timeoutMs = 5_000): Promise<boolean> {
    if (this.revision >= revision) return true;
    if (!(await this.store.changedBetween(this.kind, this.revision, revision))) return true;
    return this.caughtUp(revision, timeoutMs);
  }

  get(id: string): Versioned<ObjectOf<K>> | undefined {
    return this.cache.get(id);
  }

  list(): Versioned<ObjectOf<K>>[] {
    return [...this.cache.values()];
  }

  status(): InformerStatus {
    return {
      revision: this.revision,
      connected: this.connected,
      staleForMs: this.connected ? 0 : Date.now() - this.disconnectedAt,
      relists: this.relists,
      undecodable: this.undecodable,
    };
  }

  private async relist(): Promise<void> {
    const { items, revision } = await this.store.list(this.kind);
    this.relists++;
    const changes: Change<ObjectOf<K>>[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const { id } = item;
      seen.add(id);
      const previous = this.cache.get(id);
      if (previous?.version === item.version) continue;
      this.cache.set(id, item);
      changes.push({ type: 'put', id, value: item.value, version: item.version, ...withPrevious(previous?.value) });
    }
    for (const [id, previous] of this.cache) {
      if (seen.has(id)) continue;
      this.cache.delete(id);
      changes.push({ type: 'delete', id, previous: previous.value });
    }
    this.revision = revision;
    if (changes.length > 0 || this.relists === 1) this.deliver({ revision, changes, relisted: true });
    await this.watch(revision + 1n);
  }

  private async watch(from: bigint): Promise<void> {
    if (this.stopped) return;
    const watcher = await this.store.client
      .watch()
      .prefix(prefixOf(this.kind))
      // No previous values from etcd: the cache has them (they would double what etcd reads and sends).
      .startRevision(from.toString())
      .create()
      .catch((err: unknown) => {
        throw etcdFailure(err);
      });
    this.watcher = watcher;
    this.connected = true;
    watcher.on('data', (res) => this.apply(res));
    watcher.on('connected', () => {
      this.connected = true;
    });
    watcher.on('disconnected', () => {
      if (this.connected) this.disconnectedAt = Date.now();
      this.connected = false;
    });
    // A canceled watch (the revision it needs was compacted away) cannot resume: list again instead.
    watcher.on('error', () => {
      if (this.connected) this.disconnectedAt = Date.now();
      this.connected = false;
      // Dead already, most likely; the watch that replaces it is what matters.
      void watcher.cancel().catch(() => undefined);
      void this.recover();
    });
  }

  private async recover(): Promise<void> {
    const delay = this.options.retryDelayMs ?? 200;
    while (!this.stopped) {
      try {
        await this.relist();
        return;
      } catch {
        // etcd still away: the informer shows as stale (staleForMs) until a relist works.
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private apply(res: IWatchResponse): void {
    let set: ChangeSet<ObjectOf<K>> | undefined;
    for (const event of res.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision <= this.revision) continue;
      if (set && set.revision !== revision) {
        this.deliver(set);
        set = undefined;
      }
      set ??= { revision, changes: [], relisted: false };
      const id = event.kv.key.toString().slice(prefixOf(this.kind).length);
      const previous = this.cache.get(id)?.value;
      if (event.type === 'Delete') {
        this.cache.delete(id);
        set.changes.push({ type: 'delete', id, ...withPrevious(previous) });
        continue;
      }
      const value = this.decode(event.kv.value);
      if (value === undefined) continue;
      const version = BigInt(event.kv.mod_revision);
      this.cache.set(id, { id, value, version });
      set.changes.push({ type: 'put', id, value, version, ...withPrevious(previous) });
    }
    if (set) this.deliver(set);
    const header = BigInt(res.header.revision);
    if (header > this.revision) this.revision = header;
  }

  private decode(bytes: Buffer): ObjectOf<K> | undefined {
    try {
      return KINDS[this.kind].decode(bytes) as ObjectOf<K>;
    } catch {
      // Counted (undecodable in the stats) and left out: one bad value must not stop the cache.
      this.undecodable++;
      return undefined;
    }
  }

  private deliver(set: ChangeSet<ObjectOf<K>>): void {
    if (set.revision > this.revision) this.revision = set.revision;
    for (const listener of this.listeners) listener(set);
  }
}

function withPrevious<T>(previous: T | undefined): { previous?: T } {
  return previous === undefined ? {} : { previous };
}
