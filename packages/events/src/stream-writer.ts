import { Code, FlotillaError } from '@flotilla/api';
import type { Redis } from 'ioredis';
import { BoundedBuffer } from './bounded-buffer.js';
import { disconnect, disconnectNow, isClosed } from './connection.js';
import { type EventsLogger, silentLogger } from './logger.js';
import { redisFailure } from './redis-failure.js';

/** One XADD to make: the stream key, its approximate cap, and the entry's fields as name/value pairs. */
export interface StreamEntry {
  key: string;
  maxLen: number;
  /** Trim to exactly maxLen (`MAXLEN =`) rather than about it (`~`, which trims whole nodes of ~100 entries). */
  exact?: boolean;
  fields: string[];
}

/** Counters of a writer. Every entry ever handed to it is in exactly one of written, dropped, rejected, buffered. */
export interface WriterStats {
  /** Entries handed to the writer (events emitted, log lines appended). */
  emitted: number;
  /** Entries Redis stored. */
  written: number;
  /** Entries lost: the oldest when the buffer overflowed, those still buffered at close, those emitted after it. */
  dropped: number;
  /** Entries that could never be written: invalid, or refused by Redis (e.g. the key holds another type). */
  rejected: number;
  /** Entries waiting, including a batch being written (so up to one batch above the buffer's bound). */
  buffered: number;
  /** Whether the Redis connection is up right now. */
  connected: boolean;
}

export interface StreamWriterOptions {
  /** Entries held while Redis is slow or away; past this the oldest are dropped (default 10,000). */
  maxBuffered?: number;
  /** Entries per MULTI/EXEC round trip (default 500). */
  batchSize?: number;
  /** Wait between failed writes: doubles from the first delay up to the cap (default 100 ms → 2 s). */
  retryDelayMs?: { first: number; max: number };
  /** When set, each written key's TTL is reset to this many seconds (per-task logs expire after the task). */
  ttlSeconds?: number;
  logger?: EventsLogger;
}

/**
 * Appends entries to Redis Streams from a bounded in-memory buffer, so that callers never wait on Redis: `append`
 * only buffers, and one background loop writes batches in order, holding them while Redis is away and retrying
 * with backoff. The loop never runs twice at once, which is what keeps entries in order across failures.
 *
 * Delivery is at least once: a batch whose reply is lost (a timeout after Redis applied it) is written again.
 */
export class StreamWriter {
  private readonly buffer: BoundedBuffer<StreamEntry>;
  private readonly batchSize: number;
  private readonly firstDelay: number;
  private readonly maxDelay: number;
  private readonly logger: EventsLogger;
  private counts = { emitted: 0, written: 0, dropped: 0, rejected: 0 };
  private inFlight = 0;
  private flushing = false;
  private closing = false;
  private closed?: Promise<WriterStats>;
  private wake?: () => void;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly options: StreamWriterOptions = {},
  ) {
    this.buffer = new BoundedBuffer(options.maxBuffered ?? 10_000);
    this.batchSize = positive('batchSize', options.batchSize ?? 500);
    this.firstDelay = options.retryDelayMs?.first ?? 100;
    this.maxDelay = options.retryDelayMs?.max ?? 2_000;
    this.logger = options.logger ?? silentLogger;
    // Entries buffered during an outage go out as soon as the connection is back, not at the next retry tick.
    redis.on('ready', () => this.wake?.());
  }

  /** Buffers one entry and schedules a write. Synchronous; never throws, never waits on Redis. */
  append(entry: StreamEntry): void {
    this.counts.emitted++;
    if (this.closing) {
      this.counts.dropped++;
      return;
    }
    this.buffer.push(entry);
    this.kick();
  }

  /** Counts an entry that was refused before it reached the buffer (e.g. it failed validation). */
  reject(): void {
    this.counts.emitted++;
    this.counts.rejected++;
  }

  stats(): WriterStats {
    return {
      ...this.counts,
      dropped: this.counts.dropped + this.buffer.dropped,
      buffered: this.buffer.length + this.inFlight,
      connected: !isClosed(this.redis) && this.redis.status === 'ready',
    };
  }

  /**
   * Stops taking entries, writes what it can until `timeoutMs` has passed, then disconnects (at once if time ran
   * out, so close takes little longer than `timeoutMs`). Entries still buffered then are counted as dropped. Resolves with the final counters; calling it again returns the same.
   */
  close(timeoutMs = 2_000): Promise<WriterStats> {
    this.closed ??= this.shutdown(timeoutMs);
    return this.closed;
  }

  private async shutdown(timeoutMs: number): Promise<WriterStats> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.idle().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    // Out of time: drop the connection rather than QUIT, which would queue behind a slow write in flight.
    if (drained) await disconnect(this.redis);
    else disconnectNow(this.redis);
    this.wake?.();
    await this.idle();
    const left = this.buffer.drain().length;
    this.counts.dropped += left;
    if (left > 0) this.logger.warn({ dropped: left }, 'closed with entries not written: they are lost');
    return this.stats();
  }

  private idle(): Promise<void> {
    if (!this.flushing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    // setImmediate rather than a microtask: every emit of the current tick lands in the same batch.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    let delay = this.firstDelay;
    try {
      while (this.buffer.length > 0) {
        if (isClosed(this.redis)) return;
        if (this.redis.status !== 'ready') {
          await this.pause(delay);
          delay = Math.min(this.maxDelay, delay * 2);
          continue;
        }
        if (await this.writeBatch()) {
          delay = this.firstDelay;
        } else {
          await this.pause(delay);
          delay = Math.min(this.maxDelay, delay * 2);
        }
      }
    } finally {
      this.flushing = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Writes one batch. Returns false when Redis is unavailable (the batch is back in the buffer). */
  private async writeBatch(): Promise<boolean> {
    const batch = this.buffer.take(this.batchSize);
    this.inFlight = batch.length;
    try {
      const multi = this.redis.multi();
      for (const e of batch) multi.xadd(e.key, 'MAXLEN', e.exact ? '=' : '~', e.maxLen, '*', ...e.fields);
      if (this.options.ttlSeconds !== undefined) {
        for (const key of new Set(batch.map((e) => e.key))) multi.expire(key, this.options.ttlSeconds);
      }
      const replies = (await multi.exec()) ?? [];
      for (let i = 0; i < batch.length; i++) {
        const err = replies[i]?.[0];
        if (err) {
          this.counts.rejected++;
          this.logger.error({ err, key: batch[i]?.key }, 'redis refused a stream entry: it is skipped');
        } else {
          this.counts.written++;
        }
      }
      return true;
    } catch (err) {
      const error = redisFailure(err);
      if (error.code !== Code.Internal) {
        // Redis is away or refuses us for now: keep the batch (the buffer's bound still holds) and retry.
        const dropped = this.buffer.putBack(batch);
        const log = error.code === Code.Unavailable ? this.logger.debug : this.logger.warn;
        log.call(this.logger, { err: error, batch: batch.length, dropped }, 'stream write failed: will retry');
        return false;
      }
      // Redis refused the transaction itself: retrying the same batch would stall everything behind it.
      this.counts.rejected += batch.length;
      this.logger.error({ err: error, batch: batch.length }, 'redis refused a batch of stream entries: skipped');
      return true;
    } finally {
      this.inFlight = 0;
    }
  }

  /** Waits for the retry delay, or less if the connection comes back or the writer is closing. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (isClosed(this.redis)) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FlotillaError(Code.InvalidArgument, `${name} must be a positive integer, got ${value}`, {
      reason: 'invalid-argument',
    });
  }
  return value;
}
