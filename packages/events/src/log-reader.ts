import { Code, FlotillaError } from '@flotilla/api';
import type { Redis } from 'ioredis';
import { disconnect, whenReady } from './connection.js';
import { LOGS_KEY_PREFIX, logKey } from './keys.js';
import { LOG_FIELDS, type LogStream } from './log-sink.js';
import type { EventsLogger } from './logger.js';
import { type ReaderSettings, readerSettings } from './reader-settings.js';
import { redisFailure } from './redis-failure.js';
import { followEntries, lastEntryId, type RawEntry, rangeEntries } from './stream-cursor.js';
import { compareStreamIds, parseStreamId, previousStreamId } from './stream-id.js';

export interface LogLine {
  /** Stream entry ID: pass it as `since` to resume after this line. */
  id: string;
  taskId: string;
  stream: LogStream;
  line: string;
  /** Milliseconds since the epoch, when the line was appended on the node. */
  at: number;
}

export interface LogTailOptions {
  /** The node the task runs on: its stream is `<prefix><nodeId>:<taskId>` (absent: the layout before nodes). */
  nodeId?: string;
  /** Keep following new lines (like `docker logs -f`) until the signal aborts or the consumer stops. */
  follow?: boolean;
  /** A time (Date or ms since the epoch): lines appended at or after it; or a stream ID: lines after it. */
  since?: Date | number | string;
  /** Only the newest this many of the stored lines (like `docker logs --tail`), then any new ones. */
  lines?: number;
  signal?: AbortSignal;
}

export interface LogReaderOptions {
  keyPrefix?: string;
  /** How long one XREAD BLOCK waits before it is issued again (default 1 s). */
  blockMs?: number;
  pageSize?: number;
  /** How long a call waits for Redis to be reachable before it fails as `unavailable` (default 5 s). */
  readyTimeoutMs?: number;
  logger?: EventsLogger;
}

/**
 * Reads per-task container logs written by `LogSink`. Malformed entries are skipped and counted.
 * The reader owns the client it is given: `close()` disconnects it and ends every tail.
 */
export class LogReader {
  private readonly keyPrefix: string;
  private readonly settings: ReaderSettings;
  private readonly closing = new AbortController();
  private malformedCount = 0;

  constructor(
    private readonly redis: Redis,
    options: LogReaderOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? LOGS_KEY_PREFIX;
    this.settings = readerSettings(options);
  }

  get malformed(): number {
    return this.malformedCount;
  }

  /** A task's log lines, oldest first: the stored ones (filtered by `since` and `lines`), then new ones if `follow`. */
  async *tail(taskId: string, options: LogTailOptions = {}): AsyncGenerator<LogLine> {
    logKey(taskId, this.keyPrefix, options.nodeId); // bad IDs fail before any wait
    const { sinceMs, lower } = bounds(options.since);
    if (options.lines !== undefined && (!Number.isSafeInteger(options.lines) || options.lines < 0)) {
      throw new FlotillaError(Code.InvalidArgument, `lines must be a non-negative integer, got ${options.lines}`, {
        reason: 'invalid-argument',
      });
    }
    await whenReady(this.redis, this.settings.readyTimeoutMs);
    const key = await this.streamKey(taskId, options.nodeId);
    // The newest entry now bounds the history part, so that it ends even while the container keeps writing.
    const end = await lastEntryId(this.redis, key);
    if (end !== '0-0') {
      const history =
        options.lines === undefined
          ? rangeEntries(this.redis, key, lower, end, this.settings.pageSize)
          : newest(this.redis, key, lower, end, options.lines);
      for await (const entry of history) {
        const line = this.decode(taskId, entry, sinceMs);
        if (line) yield line;
      }
    }
    if (!options.follow) return;
    // Follow from after the history; if `since` lies beyond it, from there, so nothing before `since` shows.
    let cursor = end;
    const start = lower === '-' ? '0-0' : lower.startsWith('(') ? lower.slice(1) : previousStreamId(lower);
    if (compareStreamIds(start, cursor) > 0) cursor = start;
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    const entries = followEntries(this.redis, key, cursor, {
      blockMs: this.settings.blockMs,
      pageSize: this.settings.pageSize,
      readyTimeoutMs: this.settings.readyTimeoutMs,
      signal,
      logger: this.settings.logger,
    });
    for await (const entry of entries) {
      const line = this.decode(taskId, entry, sinceMs);
      if (line) yield line;
    }
  }

  /**
   * The node's stream of the task; the stream of the layout before node segments when only that one exists (a
   * task that logged before the upgrade: those streams expire a week after their last line).
   */
  private async streamKey(taskId: string, nodeId: string | undefined): Promise<string> {
    const legacy = logKey(taskId, this.keyPrefix);
    if (nodeId === undefined) return legacy;
    const key = logKey(taskId, this.keyPrefix, nodeId);
    try {
      const [current, old] = await Promise.all([this.redis.exists(key), this.redis.exists(legacy)]);
      return current === 0 && old === 1 ? legacy : key;
    } catch (err) {
      throw redisFailure(err);
    }
  }

  /** Ends every tail and disconnects. */
  async close(): Promise<void> {
    this.closing.abort();
    await disconnect(this.redis);
  }

  private decode(taskId: string, [id, fields]: RawEntry, sinceMs: number | undefined): LogLine | undefined {
    const get = (name: string) => {
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
      return undefined;
    };
    const stream = get(LOG_FIELDS.stream);
    const line = get(LOG_FIELDS.line);
    const at = Number(get(LOG_FIELDS.at));
    if ((stream !== 'stdout' && stream !== 'stderr') || line === undefined || !Number.isFinite(at)) {
      this.malformedCount++;
      const log = this.malformedCount === 1 ? this.settings.logger.warn : this.settings.logger.debug;
      log.call(this.settings.logger, { id, taskId, malformed: this.malformedCount }, 'skipped a malformed log entry');
      return undefined;
    }
    // The entry ID is when Redis stored the line; `since` is about when it was written, which is earlier
    // for lines that waited out an outage in the buffer.
    if (sinceMs !== undefined && at < sinceMs) return undefined;
    return { id, taskId, stream, line, at };
  }
}

/** The XRANGE lower bound for `since`, and the time to filter on when it is a time. */
function bounds(since: LogTailOptions['since']): { sinceMs?: number; lower: string } {
  if (since === undefined) return { lower: '-' };
  if (typeof since === 'string') return { lower: `(${parseStreamId(since)}` };
  const ms = since instanceof Date ? since.getTime() : since;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new FlotillaError(Code.InvalidArgument, `since must be a time after the epoch, got ${String(since)}`, {
      reason: 'invalid-argument',
    });
  }
  const whole = Math.floor(ms);
  return { sinceMs: whole, lower: `${whole}-0` };
}

/** The newest `count` entries between `lower` and `end`, oldest first. */
async function* newest(redis: Redis, key: string, lower: string, end: string, count: number): AsyncGenerator<RawEntry> {
  if (count === 0) return;
  const entries = (await redis.xrevrange(key, end, lower, 'COUNT', count)) as RawEntry[];
  yield* entries.reverse();
}
