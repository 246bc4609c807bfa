import { Code, FlotillaError } from '@flotilla/api';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { chunks, MAX_TXN_BYTES, MAX_TXN_OPS } from './chunks.js';
import { etcdFailure } from './etcd-failure.js';
import { KINDS, type Kind, keyOf, type ObjectOf, prefixOf } from './kinds.js';

/** An object with its version: the etcd mod revision of its key, used for compare-and-swap. */
export interface Versioned<T> {
  id: string;
  value: T;
  version: bigint;
}

/** A write for `batch()`. `create` fails if the object exists; `update`/`delete` with a version fail if it moved on. */
export type Write =
  | { op: 'create'; kind: Kind; id: string; value: unknown }
  | { op: 'update'; kind: Kind; id: string; value: unknown; version: bigint }
  | { op: 'put'; kind: Kind; id: string; value: unknown }
  | { op: 'delete'; kind: Kind; id: string; version?: bigint };

/**
 * A leadership fence: holds while `key` exists with this create revision (the leader's own election key). A
 * store with a fence adds that compare to every write, so a deposed leader's writes are refused by etcd itself,
 * whatever its own clock or lease events say.
 */
export interface Fence {
  key: string;
  createRevision: bigint;
}

/** An object a transaction requires as it was read, though it does not write it: at `version` (0: still absent). */
export interface Unchanged {
  kind: Kind;
  id: string;
  version: bigint;
}

export interface BatchOptions {
  /** Transactions committed at once (etcd takes most keys per second with about 16). Default 1, in order. */
  inFlight?: number;
  /** Called after each transaction commits, with its revision and how many writes it held. */
  onCommit?: (revision: bigint, writes: number) => void;
  /**
   * All in one transaction or nothing: writes that do not fit one (etcd's operation and request-size limits)
   * are refused before anything is written, with an error that names the limit and `what` was too large.
   */
  atomic?: {
    what: string;
    /**
     * Objects the transaction requires unchanged since they were read (a conflict otherwise), so writes decided on
     * them land only while they still stand. Each takes a compare of the transaction, as a write does.
     */
    unchanged?: readonly Unchanged[];
  };
}

export interface BatchResult {
  /** Revision of the last transaction. */
  revision: bigint;
  transactions: number;
}

/**
 * Typed objects in etcd, one key each, protobuf-encoded. Every write is a transaction with the compares that
 * make it safe (absent for create, same mod revision for update and delete, plus the fence when set).
 */
export class Store {
  constructor(
    readonly client: Etcd3,
    private readonly fence?: Fence,
    /** Told the duration of every etcd call (for a latency metric). */
    private readonly onCall?: (op: 'get' | 'list' | 'txn', seconds: number) => void,
  ) {}

  /** The same store, with every write fenced on the given leadership key. */
  fenced(fence: Fence): Store {
    return new Store(this.client, fence, this.onCall);
  }

  /** The same store, reporting each etcd call's duration. */
  observed(onCall: (op: 'get' | 'list' | 'txn', seconds: number) => void): Store {
    return new Store(this.client, this.fence, onCall);
  }

  private timed<T>(op: 'get' | 'list' | 'txn', fn: () => Promise<T>): Promise<T> {
    if (!this.onCall) return call(fn);
    const started = performance.now();
    return call(fn).finally(() => this.onCall?.(op, (performance.now() - started) / 1000));
  }

  async get<K extends Kind>(kind: K, id: string): Promise<Versioned<ObjectOf<K>> | undefined> {
    const response = await this.timed('get', () => this.client.kv.range({ key: Buffer.from(keyOf(kind, id)) }));
    const kv = response.kvs[0];
    if (!kv) return undefined;
    return { id, value: KINDS[kind].decode(kv.value) as ObjectOf<K>, version: BigInt(kv.mod_revision) };
  }

  /** Every object of a kind, and the revision the list was read at (watch from revision + 1 to follow on). */
  async list<K extends Kind>(kind: K): Promise<{ items: Versioned<ObjectOf<K>>[]; revision: bigint }> {
    const prefix = prefixOf(kind);
    const response = await this.timed('list', () =>
      this.client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) }),
    );
    const items = response.kvs.map((kv) => ({
      id: kv.key.toString().slice(prefix.length),
      value: KINDS[kind].decode(kv.value) as ObjectOf<K>,
      version: BigInt(kv.mod_revision),
    }));
    return { items, revision: BigInt(response.header.revision) };
  }

  /**
   * Whether an object of this kind was created or changed after revision `after`, up to `upTo` (deletions are not
   * seen). Reads keys only.
   */
  async changedBetween(kind: Kind, after: bigint, upTo: bigint): Promise<boolean> {
    if (upTo <= after) return false;
    const prefix = prefixOf(kind);
    const response = await this.timed('list', () =>
      this.client.kv.range({
        key: Buffer.from(prefix),
        range_end: Buffer.from(prefixEnd(prefix)),
        keys_only: true,
        min_mod_revision: String(after + 1n),
        max_mod_revision: String(upTo),
      }),
    );
    return response.kvs.length > 0;
  }

  async create<K extends Kind>(kind: K, id: string, value: ObjectOf<K>): Promise<bigint> {
    return (await this.batch([{ op: 'create', kind, id, value }])).revision;
  }

  async update<K extends Kind>(kind: K, id: string, value: ObjectOf<K>, version: bigint): Promise<bigint> {
    return (await this.batch([{ op: 'update', kind, id, value, version }])).revision;
  }

  /**
   * Read-modify-write with compare-and-swap, read again and retried when someone else changed the object in
   * between. `mutate` returns the new value, or undefined to leave the object as it is. Resolves with the object
   * as it now stands, or undefined when it does not exist; after `attempts` conflicts, fails with `conflict`.
   */
  async modify<K extends Kind>(
    kind: K,
    id: string,
    mutate: (current: ObjectOf<K>) => ObjectOf<K> | undefined,
    attempts = 5,
  ): Promise<Versioned<ObjectOf<K>> | undefined> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = await this.get(kind, id);
      if (!current) return undefined;
      const next = mutate(current.value);
      if (next === undefined) return current;
      try {
        return { id, value: next, version: await this.update(kind, id, next, current.version) };
      } catch (err) {
        if (!(err instanceof FlotillaError) || err.reason !== 'conflict') throw err;
      }
    }
    throw new FlotillaError(Code.Aborted, `${kind}/${id} kept changing while it was updated: try again`, {
      reason: 'conflict',
    });
  }

  async delete(kind: Kind, id: string, version?: bigint): Promise<void> {
    await this.batch([version === undefined ? { op: 'delete', kind, id } : { op: 'delete', kind, id, version }]);
  }

  /**
   * Any number of writes, in transactions etcd accepts (≤127 writes each, plus the fence compare, and under its
   * request size), with up to `inFlight` transactions at once. Each transaction is atomic; the batch as a whole
   * is not: on a conflict, transactions already committed stay applied, no new ones start, and the error says
   * how many writes landed, so the caller can retry on fresh state.
   */
  async batch(writes: readonly Write[], options: BatchOptions = {}): Promise<BatchResult> {
    // Keys are checked first (an invalid ID fails the batch before anything is written); values are encoded as
    // transactions are sent, so the first commits while later ones are still being encoded.
    const keys = writes.map((w) => Buffer.from(keyOf(w.kind, w.id)));
    const encoded = (function* () {
      for (const [i, write] of writes.entries()) yield { write, key: keys[i] as Buffer, bytes: encode(write) };
    })();
    const size = (e: { key: Buffer; bytes: Buffer | undefined }) => e.key.length + (e.bytes?.length ?? 0);
    if (options.atomic) return this.commitWhole([...encoded], size, options.atomic);
    const parts = chunks(encoded, size);
    let revision = 0n;
    let landed = 0;
    let transactions = 0;
    let failure: FlotillaError | undefined;
    let unencodable: unknown;
    const worker = async () => {
      while (!failure && unencodable === undefined) {
        let part: Parameters<Store['commit']>[0];
        try {
          const next = parts.next();
          if (next.done) return;
          part = next.value;
        } catch (err) {
          // A value that cannot be encoded: nothing more starts.
          unencodable = err;
          return;
        }
        transactions++;
        try {
          const committed = await this.commit(part);
          if (committed > revision) revision = committed;
          landed += part.length;
          options.onCommit?.(committed, part.length);
        } catch (err) {
          failure ??= etcdFailure(err);
        }
      }
    };
    const width = Math.max(1, Math.min(options.inFlight ?? 1, Math.ceil(writes.length / (MAX_TXN_OPS - 1))));
    await Promise.all(Array.from({ length: width }, worker));
    if (unencodable !== undefined && !failure) throw unencodable;
    if (failure) {
      if (failure.reason !== 'conflict') throw failure;
      throw new FlotillaError(Code.Aborted, `${failure.message} (${landed} of ${writes.length} writes landed)`, {
        reason: 'conflict',
      });
    }
    return { revision, transactions };
  }

  /** Every write in one transaction, or none when they do not fit one. */
  private async commitWhole(
    part: { write: Write; key: Buffer; bytes: Buffer | undefined }[],
    size: (e: (typeof part)[number]) => number,
    { what, unchanged = [] }: NonNullable<BatchOptions['atomic']>,
  ): Promise<BatchResult> {
    const bytes = part.reduce((sum, e) => sum + size(e), 0);
    const tooLarge = (detail: string) =>
      new FlotillaError(
        Code.ResourceExhausted,
        `${what} is written in one etcd transaction, and this one ${detail}: nothing was written; split it in parts`,
      );
    if (part.length + unchanged.length > MAX_TXN_OPS - 1) {
      const checks = unchanged.length > 0 ? ` and ${unchanged.length} checks` : '';
      throw tooLarge(
        `has ${part.length} writes${checks}, over the ${MAX_TXN_OPS - 1} a transaction may hold (etcd's --max-txn-ops ${MAX_TXN_OPS}, one kept for the leader's fence)`,
      );
    }
    if (bytes > MAX_TXN_BYTES) {
      throw tooLarge(
        `holds ${(bytes / 1024 / 1024).toFixed(2)} MiB, over the ${MAX_TXN_BYTES / 1024 / 1024} MiB kept under etcd's request limit (--max-request-bytes, 1.5 MiB by default)`,
      );
    }
    if (part.length === 0) return { revision: 0n, transactions: 0 };
    // An invalid ID fails here, before anything is sent, as a write's does.
    for (const u of unchanged) keyOf(u.kind, u.id);
    try {
      return { revision: await this.commit(part, unchanged), transactions: 1 };
    } catch (err) {
      throw etcdFailure(err);
    }
  }

  /** One transaction: the writes with their compares, and the fence. Returns the revision it committed at. */
  private async commit(
    part: { write: Write; key: Buffer; bytes: Buffer | undefined }[],
    unchanged: readonly Unchanged[] = [],
  ): Promise<bigint> {
    const compare: ICompare[] = unchanged.map((u) => ({
      key: Buffer.from(keyOf(u.kind, u.id)),
      target: 'Mod',
      result: 'Equal',
      // A missing key's mod revision is 0: version 0 requires the object still absent.
      mod_revision: u.version.toString(),
    }));
    const success: IRequestOp[] = [];
    for (const { write, key, bytes } of part) {
      // One compare per write at most, so a full transaction stays within etcd's 128 compares. A mod revision
      // equal to a real version also proves the key exists (a missing key's mod revision is 0).
      if (write.op === 'create') compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
      if ((write.op === 'update' || write.op === 'delete') && write.version !== undefined) {
        compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: write.version.toString() });
      }
      success.push(bytes ? { request_put: { key, value: bytes } } : { request_delete_range: { key } });
    }
    if (this.fence) {
      compare.push({
        key: Buffer.from(this.fence.key),
        target: 'Create',
        result: 'Equal',
        create_revision: this.fence.createRevision.toString(),
      });
    }
    // On failure, read the fence key back to tell "not the leader any more" from an ordinary conflict.
    const failure: IRequestOp[] = this.fence ? [{ request_range: { key: Buffer.from(this.fence.key) } }] : [];
    const response = await this.timed('txn', () => this.client.kv.txn({ compare, success, failure }));
    if (response.succeeded) return BigInt(response.header.revision);
    const fenceKv = response.responses[0]?.response_range?.kvs[0];
    if (this.fence && (!fenceKv || BigInt(fenceKv.create_revision) !== this.fence.createRevision)) {
      throw new FlotillaError(
        Code.Aborted,
        `write refused: this manager no longer holds ${this.fence.key} (leadership lost)`,
        { reason: 'fenced' },
      );
    }
    const keys = [...unchanged.map((u) => keyOf(u.kind, u.id)), ...part.map((p) => p.key.toString())].slice(0, 3);
    throw new FlotillaError(
      Code.Aborted,
      `write conflict: one of ${keys.join(', ')}${part.length + unchanged.length > 3 ? ', …' : ''} changed since it was read; ` +
        'read it again and retry',
      { reason: 'conflict' },
    );
  }
}

function encode(write: Write): Buffer | undefined {
  if (write.op === 'delete') return undefined;
  const codec = KINDS[write.kind] as { encode(v: unknown): { finish(): Uint8Array } };
  return Buffer.from(codec.encode(write.value).finish());
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw etcdFailure(err);
  }
}

/** The first key after every key with this prefix (etcd's range_end for a prefix scan). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
