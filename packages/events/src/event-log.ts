import { Code, FlotillaError } from '@flotilla/api';
import type { Redis } from 'ioredis';
import { EVENT_FIELD, type EventInput, encodeEvent, type FlotillaEvent } from './event.js';
import { EVENTS_KEY } from './keys.js';
import { type EventsLogger, silentLogger } from './logger.js';
import { StreamWriter, type StreamWriterOptions, type WriterStats } from './stream-writer.js';

export interface EventLogOptions extends Omit<StreamWriterOptions, 'ttlSeconds'> {
  /** Stream key (default `flotilla:events`). */
  key?: string;
  /** Approximate cap of the stream, as XADD MAXLEN ~ (default 100,000 events). */
  maxLen?: number;
}

/**
 * The cluster's event log: task transitions, service changes and rollout progress, node up/down, leader changes.
 * `emit` never waits on Redis and never throws, so the control loops can call it inline; when Redis is slow or
 * away, events wait in a bounded buffer (oldest dropped and counted past the bound) and flow again in order.
 *
 * The log owns the client it is given: `close()` disconnects it.
 */
export class EventLog {
  readonly key: string;
  private readonly maxLen: number;
  private readonly writer: StreamWriter;
  private readonly logger: EventsLogger;

  constructor(redis: Redis, options: EventLogOptions = {}) {
    this.key = options.key ?? EVENTS_KEY;
    this.maxLen = options.maxLen ?? 100_000;
    if (!Number.isSafeInteger(this.maxLen) || this.maxLen < 1) {
      throw new FlotillaError(Code.InvalidArgument, `maxLen must be a positive integer, got ${options.maxLen}`, {
        reason: 'invalid-argument',
      });
    }
    this.logger = options.logger ?? silentLogger;
    this.writer = new StreamWriter(redis, { ...options, logger: this.logger });
  }

  /** Appends an event (its `at` defaults to now). Synchronous: returns before anything is sent to Redis. */
  emit(event: EventInput): void {
    let json: string;
    try {
      json = encodeEvent({ ...event, at: event.at ?? Date.now() } as FlotillaEvent);
    } catch (err) {
      // A bad event is a bug in the caller, but it must not take the caller down: count it and say so.
      this.writer.reject();
      this.logger.error({ err, type: event.type }, 'invalid event not emitted');
      return;
    }
    this.writer.append({ key: this.key, maxLen: this.maxLen, fields: [EVENT_FIELD, json] });
  }

  stats(): WriterStats {
    return this.writer.stats();
  }

  /** Writes what it can within `timeoutMs` (default 2 s), then disconnects. Resolves with the final counters. */
  close(options: { timeoutMs?: number } = {}): Promise<WriterStats> {
    return this.writer.close(options.timeoutMs);
  }
}
