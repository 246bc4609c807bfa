import type { Redis } from 'ioredis';
import { disconnect, whenReady } from './connection.js';
import { decodeEntry, type FlotillaEvent } from './event.js';
import { EVENTS_KEY } from './keys.js';
import type { EventsLogger } from './logger.js';
import { type ReaderSettings, readerSettings } from './reader-settings.js';
import { followEntries, lastEntryId, type RawEntry, rangeEntries } from './stream-cursor.js';
import { parseStreamId } from './stream-id.js';

/** An event with the ID Redis gave it; pass the ID as `after` to resume where a reader stopped. */
export interface StoredEvent {
  id: string;
  event: FlotillaEvent;
}

export interface EventReaderOptions {
  /** Stream key (default `flotilla:events`). */
  key?: string;
  /** How long one XREAD BLOCK waits before it is issued again (default 1 s). */
  blockMs?: number;
  /** Entries per XRANGE/XREAD round trip (default 500). */
  pageSize?: number;
  /** How long a call waits for Redis to be reachable before it fails as `unavailable` (default 5 s). */
  readyTimeoutMs?: number;
  logger?: EventsLogger;
}

/**
 * Reads the event log: replays history with XRANGE and tails it with XREAD BLOCK. Entries that do not decode as
 * events are skipped and counted (`malformed`), so one bad writer cannot stop every reader.
 *
 * The reader owns the client it is given: `close()` disconnects it and ends every tail.
 */
export class EventReader {
  readonly key: string;
  private readonly settings: ReaderSettings;
  private readonly closing = new AbortController();
  private malformedCount = 0;

  constructor(
    private readonly redis: Redis,
    options: EventReaderOptions = {},
  ) {
    this.key = options.key ?? EVENTS_KEY;
    this.settings = readerSettings(options);
  }

  /** Entries skipped because they did not decode. */
  get malformed(): number {
    return this.malformedCount;
  }

  /** The ID of the newest event, or 0-0 when there is none: tail from it to see only what comes next. */
  async lastId(): Promise<string> {
    await whenReady(this.redis, this.settings.readyTimeoutMs);
    return lastEntryId(this.redis, this.key);
  }

  /**
   * The stored history after `after` (default: from the start) up to `to` (inclusive; default: the newest event
   * when the replay starts), at most `limit` events, oldest first.
   */
  async *replay(options: { after?: string; to?: string; limit?: number } = {}): AsyncGenerator<StoredEvent> {
    const start = options.after === undefined ? '-' : `(${parseStreamId(options.after)}`;
    const to = options.to === undefined ? await this.lastId() : parseStreamId(options.to);
    if (options.to === undefined && to === '0-0') return;
    await whenReady(this.redis, this.settings.readyTimeoutMs);
    for await (const entry of rangeEntries(this.redis, this.key, start, to, this.settings.pageSize, options.limit)) {
      const stored = this.decode(entry);
      if (stored) yield stored;
    }
  }

  /**
   * Every event after `after`, then new ones as they are written, until the signal aborts, the consumer stops, or
   * the reader closes. `after` defaults to `$`: the newest event when the tail starts (resolved to its ID once, so
   * no event written between two XREADs is missed). An old ID replays the history after it first.
   */
  async *tail(options: { after?: string; signal?: AbortSignal } = {}): AsyncGenerator<StoredEvent> {
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    const after = options.after === undefined || options.after === '$' ? await this.lastId() : options.after;
    const entries = followEntries(this.redis, this.key, parseStreamId(after), {
      blockMs: this.settings.blockMs,
      pageSize: this.settings.pageSize,
      readyTimeoutMs: this.settings.readyTimeoutMs,
      signal,
      logger: this.settings.logger,
    });
    for await (const entry of entries) {
      const stored = this.decode(entry);
      if (stored) yield stored;
    }
  }

  /** Ends every tail and disconnects. */
  async close(): Promise<void> {
    this.closing.abort();
    await disconnect(this.redis);
  }

  private decode([id, fields]: RawEntry): StoredEvent | undefined {
    try {
      return { id, event: decodeEntry(fields) };
    } catch (err) {
      this.malformedCount++;
      // The first one is worth a warning; a flood of them would only bury the logs.
      const log = this.malformedCount === 1 ? this.settings.logger.warn : this.settings.logger.debug;
      log.call(
        this.settings.logger,
        { err, id, key: this.key, malformed: this.malformedCount },
        'skipped a malformed event',
      );
      return undefined;
    }
  }
}
