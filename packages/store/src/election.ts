import { Code, FlotillaError } from '@flotilla/api';
import type { Etcd3, Lease } from 'etcd3';
import { etcdFailure } from './etcd-failure.js';
import { type Fence, prefixEnd } from './store.js';

export interface ElectionOptions {
  /** Who is campaigning (a manager ID); stored as the value of its key. */
  id: string;
  /** Lease TTL: how long a dead leader keeps leadership before another manager takes over. */
  ttlSeconds: number;
  /** Key prefix of the election. */
  prefix?: string;
}

export interface Leadership {
  /** Compare this in every write (Store.fenced) so writes fail the moment leadership is gone. */
  fence: Fence;
  /** Settles when leadership is lost: the key went away or the lease could not be kept alive. */
  lost: Promise<void>;
  /** Gives leadership up at once (the next candidate takes over without waiting for the TTL). */
  resign(): Promise<void>;
}

/**
 * Leader election on etcd: each candidate puts a key under the prefix with its own lease; the candidate whose
 * key has the lowest create revision leads, and the others each wait for the key just before theirs to go. The
 * leader's key and create revision are its fence: etcd refuses fenced writes once the key is gone, even if this
 * process has not noticed yet (a lease's `lost` event can fire late).
 */
export class Election {
  private readonly prefix: string;

  constructor(
    private readonly client: Etcd3,
    private readonly options: ElectionOptions,
  ) {
    this.prefix = options.prefix ?? '/flotilla/v1/election/';
  }

  /**
   * Resolves once this candidate leads. Its key exists from the start, so other managers can see it among the
   * candidates while it waits; if the key or its lease is lost while waiting, the campaign fails (campaign again).
   */
  async campaign(signal?: AbortSignal): Promise<Leadership> {
    const lease = this.client.lease(this.options.ttlSeconds);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (err) {
      throw etcdFailure(err);
    }
    const key = `${this.prefix}${BigInt(leaseId).toString(16)}`;
    const waiting = new AbortController();
    const abort = () => waiting.abort(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    // Aborted while the lease was granted: the event has passed, so it is read here.
    if (signal?.aborted) abort();
    try {
      const put = await this.client.kv.put({
        key: Buffer.from(key),
        value: Buffer.from(this.options.id),
        lease: leaseId,
      });
      const createRevision = BigInt(put.header.revision);
      const lost = this.watchLoss(key, lease);
      void lost.then(() =>
        waiting.abort(new FlotillaError(Code.Unavailable, 'lost the election candidacy while waiting')),
      );
      await this.waitForTurn(createRevision, waiting.signal);
      return { fence: { key, createRevision }, lost, resign: () => lease.revoke() };
    } catch (err) {
      // An unrevoked lease runs out by its TTL; err is the failure to report.
      await lease.revoke().catch(() => undefined);
      throw etcdFailure(err);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /** Who leads now, if anyone: the value of the key with the lowest create revision. */
  async leader(): Promise<string | undefined> {
    return (await this.candidates(1))[0];
  }

  /** The values of every candidate, the leader first, then in the order they will take over. */
  async candidates(limit = 0): Promise<string[]> {
    const response = await this.client.kv.range({
      key: Buffer.from(this.prefix),
      range_end: Buffer.from(prefixEnd(this.prefix)),
      sort_target: 'Create',
      sort_order: 'Ascend',
      limit,
    });
    return response.kvs.map((kv) => kv.value.toString());
  }

  private async waitForTurn(myRevision: bigint, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const before = await this.client.kv.range({
        key: Buffer.from(this.prefix),
        range_end: Buffer.from(prefixEnd(this.prefix)),
        max_create_revision: (myRevision - 1n).toString(),
        sort_target: 'Create',
        sort_order: 'Descend',
        limit: 1,
      });
      const predecessor = before.kvs[0];
      if (!predecessor) return;
      await this.waitForDelete(predecessor.key.toString(), BigInt(before.header.revision) + 1n, signal);
    }
  }

  private async waitForDelete(key: string, fromRevision: bigint, signal?: AbortSignal): Promise<void> {
    const watcher = await this.client.watch().key(key).startRevision(fromRevision.toString()).create();
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.on('delete', () => resolve());
        // Aborted while the watch was being made (a manager stopped just after it started): no event comes now.
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    } finally {
      // A watch that cannot be cancelled went with its connection.
      await watcher.cancel().catch(() => undefined);
    }
  }

  private watchLoss(key: string, lease: Lease): Promise<void> {
    return new Promise((resolve) => {
      lease.on('lost', () => resolve());
      void this.client
        .watch()
        .key(key)
        .create()
        .then((watcher) => {
          watcher.on('delete', () => {
            // A watch that cannot be cancelled went with its connection.
            void watcher.cancel().catch(() => undefined);
            resolve();
          });
        })
        // Without a watch nothing proves the key still stands: the candidacy counts as lost (campaign again).
        .catch(() => resolve());
    });
  }
}
