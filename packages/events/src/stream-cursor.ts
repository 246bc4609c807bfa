import { Code } from '@flotilla/api';
import type { Redis } from 'ioredis';
import { disconnectNow, recordErrors, whenReady } from './connection.js';
import type { EventsLogger } from './logger.js';
import { redisFailure } from './redis-failure.js';

/** A stream entry as XRANGE and XREAD return it: its ID and its fields as name/value pairs. */
export type RawEntry = [id: string, fields: string[]];

/** The ID of the newest entry, or 0-0 when the stream is empty or missing. */
export async function lastEntryId(redis: Redis, key: string): Promise<string> {
  const newest = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
  return newest[0]?.[0] ?? '0-0';
}

/**
 * Pages through XRANGE from `start` to `end` (Redis range syntax: `-`, `id`, or `(id` for exclusive), at most
 * `limit` entries. Callers pass a concrete `end` so that paging stops even while writers keep appending.
 */
export async function* rangeEntries(
  redis: Redis,
  key: string,
  start: string,
  end: string,
  pageSize: number,
  limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<RawEntry> {
  let cursor = start;
  let left = limit;
  while (left > 0) {
    const count = Math.min(pageSize, left);
    const page = (await redis.xrange(key, cursor, end, 'COUNT', count)) as RawEntry[];
    for (const entry of page) yield entry;
    left -= page.length;
    const last = page.at(-1);
    if (page.length < count || !last) return;
    cursor = `(${last[0]}`;
  }
}

export interface FollowOptions {
  blockMs: number;
  pageSize: number;
  /** How long a lost connection may take to come back before the follow fails as `unavailable`. */
  readyTimeoutMs: number;
  signal?: AbortSignal;
  logger: EventsLogger;
}

/**
 * Follows a stream with XREAD BLOCK from just after `after`, on a connection of its own (a blocked XREAD holds its
 * connection). Ends when the signal aborts or the consumer stops iterating. A dropped connection is resumed from
 * the last ID seen, so nothing is skipped or repeated, unless Redis stays away longer than `readyTimeoutMs`.
 */
export async function* followEntries(
  redis: Redis,
  key: string,
  after: string,
  options: FollowOptions,
): AsyncGenerator<RawEntry> {
  const { signal } = options;
  if (signal?.aborted) return;
  const baseTimeout = redis.options.commandTimeout ?? 2_000;
  // The command deadline must outlast the block, or every quiet period would look like a timeout.
  const blocking = redis.duplicate({ commandTimeout: baseTimeout + options.blockMs });
  recordErrors(blocking, (err) => options.logger.debug({ err, key }, 'redis follow connection error'));
  const stop = () => disconnectNow(blocking);
  signal?.addEventListener('abort', stop, { once: true });
  let cursor = after;
  let failingSince: number | undefined;
  try {
    while (!signal?.aborted) {
      let reply: [string, RawEntry[]][] | null;
      try {
        await whenReady(blocking, options.readyTimeoutMs);
        reply = (await blocking.xread('COUNT', options.pageSize, 'BLOCK', options.blockMs, 'STREAMS', key, cursor)) as
          | [string, RawEntry[]][]
          | null;
        failingSince = undefined;
      } catch (err) {
        if (signal?.aborted) return;
        const error = redisFailure(err);
        failingSince ??= Date.now();
        if (error.code !== Code.Unavailable || Date.now() - failingSince > options.readyTimeoutMs) throw error;
        options.logger.debug({ err: error, key }, 'follow interrupted: resuming from the last entry seen');
        // A short pause so that a reply error that repeats while connected cannot spin.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const entry of entries) {
          cursor = entry[0];
          yield entry;
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    disconnectNow(blocking);
  }
}
