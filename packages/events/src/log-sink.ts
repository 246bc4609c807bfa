import { Code, FlotillaError } from '@flotilla/api';
import type { Redis } from 'ioredis';
import { isTaskId, LOGS_KEY_PREFIX, logKey } from './keys.js';
import { type EventsLogger, silentLogger } from './logger.js';
import { StreamWriter, type StreamWriterOptions, type WriterStats } from './stream-writer.js';

export type LogStream = 'stdout' | 'stderr';

/** Field names of a log entry: `stream` (stdout|stderr), `line`, and `at` (ms since the epoch, when appended). */
export const LOG_FIELDS = { stream: 'stream', line: 'line', at: 'at' } as const;

export interface LogSinkOptions extends Omit<StreamWriterOptions, 'ttlSeconds'> {
  /** Key prefix of the per-task streams (default `flotilla:logs:`). */
  keyPrefix?: string;
  /**
   * The node whose tasks' output this is: streams are `<prefix><nodeId>:<taskId>`, the keys its Redis user may
   * append to. Absent: `<prefix><taskId>`, the layout before node segments.
   */
  nodeId?: string;
  /** Approximate cap of each task's stream, in lines (default 10,000). */
  maxLen?: number;
  /** Each task's stream expires this long after its last line (default 7 days), so removed tasks leave nothing. */
  ttlSeconds?: number;
  /** Longer lines are cut to this many characters (default 16,384), so one runaway line cannot bloat Redis. */
  maxLineLength?: number;
}

/**
 * Container logs, one capped stream per task (`flotilla:logs:<nodeId>:<taskId>`), one entry per line. Like the event log,
 * `append` only buffers: a slow or absent Redis costs log lines (counted), never a stalled container.
 *
 * The sink owns the client it is given: `close()` disconnects it.
 */
export class LogSink {
  private readonly keyPrefix: string;
  private readonly nodeId: string | undefined;
  private readonly maxLen: number;
  private readonly maxLineLength: number;
  private readonly writer: StreamWriter;
  private readonly logger: EventsLogger;

  constructor(redis: Redis, options: LogSinkOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? LOGS_KEY_PREFIX;
    if (options.nodeId !== undefined) logKey('probe', this.keyPrefix, options.nodeId);
    this.nodeId = options.nodeId;
    this.maxLen = options.maxLen ?? 10_000;
    this.maxLineLength = options.maxLineLength ?? 16_384;
    if (!Number.isSafeInteger(this.maxLen) || this.maxLen < 1) {
      throw new FlotillaError(Code.InvalidArgument, `maxLen must be a positive integer, got ${options.maxLen}`, {
        reason: 'invalid-argument',
      });
    }
    this.logger = options.logger ?? silentLogger;
    this.writer = new StreamWriter(redis, {
      ...options,
      ttlSeconds: options.ttlSeconds ?? 7 * 24 * 3600,
      logger: this.logger,
    });
  }

  /**
   * Buffers lines of one task's output (without their newlines). Synchronous; never throws. `cap.maxLen`: the
   * task's stream keeps exactly that many lines at most (its logging driver's byte cap, counted by the caller),
   * never more than the sink's own cap.
   */
  append(taskId: string, stream: LogStream, lines: readonly string[], cap?: { maxLen: number }): void {
    if (!isTaskId(taskId) || (stream !== 'stdout' && stream !== 'stderr')) {
      for (const _ of lines) this.writer.reject();
      this.logger.error({ taskId, stream }, 'log lines with an invalid task ID or stream name were not appended');
      return;
    }
    const key = logKey(taskId, this.keyPrefix, this.nodeId);
    const at = String(Date.now());
    const exact = cap !== undefined && cap.maxLen < this.maxLen;
    const maxLen = exact ? Math.max(1, Math.floor(cap.maxLen)) : this.maxLen;
    for (const line of lines) {
      const text = line.length > this.maxLineLength ? line.slice(0, this.maxLineLength) : line;
      this.writer.append({
        key,
        maxLen,
        ...(exact ? { exact } : {}),
        fields: [LOG_FIELDS.stream, stream, LOG_FIELDS.line, text, LOG_FIELDS.at, at],
      });
    }
  }

  stats(): WriterStats {
    return this.writer.stats();
  }

  /** Writes what it can within `timeoutMs` (default 2 s), then disconnects. Resolves with the final counters. */
  close(options: { timeoutMs?: number } = {}): Promise<WriterStats> {
    return this.writer.close(options.timeoutMs);
  }
}
