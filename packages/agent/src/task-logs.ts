import { formatHostPort, type LogsConfig, parseHostPort } from '@flotilla/api';
import { type LogShipperOptions, redisLogShipper, type TlsIdentity } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { TaskOutput } from './executor/executor.js';

/** Counters a shipper keeps: every line handed to it is written, dropped, rejected or still buffered. */
export interface ShipperStats {
  written: number;
  dropped: number;
  rejected: number;
  buffered: number;
}

/**
 * What ships lines to Redis: `LogSink` of @flotilla/events fits as is. `append` only buffers and never throws;
 * `close` writes what it can (bounded), disconnects, and resolves with the final counters.
 */
export interface LogShipper {
  append(taskId: string, stream: 'stdout' | 'stderr', lines: readonly string[]): void;
  stats(): ShipperStats;
  close(): Promise<ShipperStats>;
}

/**
 * Makes a shipper for the Redis at `url` (`redis[s]://[user:password@]host:port`); `options` says which node's
 * streams to write and, with `rediss://`, the TLS to use.
 */
export type LogShipperFactory = (url: string, logger: Logger | undefined, options?: LogShipperOptions) => LogShipper;

export interface TaskLogsOptions {
  /** How to reach the Redis a session names: @flotilla/events' `redisLogShipper` unless given (tests record). */
  connect?: LogShipperFactory;
  /**
   * HOST:PORT to reach the cluster's Redis at instead of the address the managers tell (another network path to
   * the same server). The password still comes from the managers, and logs are shipped only while they have Redis.
   */
  redisAddress?: string;
  /** This node: its tasks' lines go to its own streams, the only ones its Redis user may append to. */
  nodeId?: string;
  /** The node's certificate, key and CAs now (they are renewed), for a Redis reached over TLS. */
  tlsIdentity?: () => TlsIdentity;
  logger?: Logger;
}

export interface TaskLogsStats {
  /** Lines Redis stored. */
  shipped: number;
  /** Lines lost: with no Redis known, over the sink's buffer while Redis was away, or refused. */
  dropped: number;
  /** Lines waiting for Redis. */
  buffered: number;
}

/** Checks a HOST:PORT (IPv6 in brackets) and returns it; throws a message that says what is expected. */
export function parseRedisAddress(address: string): string {
  return formatHostPort(parseHostPort(address, 'Redis address', { example: '127.0.0.1:6379' }));
}

/** The URL `connectRedis` takes for an address, an optional password and user, over TLS or not. */
export function redisUrl(address: string, password = '', options: { user?: string; tls?: boolean } = {}): string {
  const user = options.user ? encodeURIComponent(options.user) : '';
  const auth = password || user ? `${user}:${encodeURIComponent(password)}@` : '';
  return `${options.tls ? 'rediss' : 'redis'}://${auth}${parseRedisAddress(address)}`;
}

/**
 * The node's container logs: one shipper for every task, pointed at the Redis the session names. Executors get
 * `output` before any session exists; until one names a Redis, lines are dropped and counted, never held, so a
 * cluster without Redis costs nothing. The shipper only buffers: a slow or absent Redis never stalls a task.
 */
export class TaskLogs {
  private sink: LogShipper | undefined;
  /** Address and password of the current sink, to notice when a session names another. */
  private target: string | undefined;
  private configured = false;
  private droppedWithoutRedis = 0;
  /** Final counters of sinks replaced or closed. */
  private readonly retired = { shipped: 0, dropped: 0 };
  private closed = false;

  constructor(private readonly options: TaskLogsOptions = {}) {
    if (options.redisAddress) parseRedisAddress(options.redisAddress);
  }

  /** What executors call with their tasks' output. Synchronous; never throws. */
  readonly output: TaskOutput = (taskId, stream, lines) => {
    if (this.sink) this.sink.append(taskId, stream, lines);
    else this.droppedWithoutRedis += lines.length;
  };

  /** Follows what the current session says: a Redis to ship to, or none. */
  configure(config: LogsConfig | undefined): void {
    if (this.closed) return;
    const address = config?.redisAddress ? (this.options.redisAddress ?? config.redisAddress) : undefined;
    const password = config?.redisPassword ?? '';
    const user = config?.redisUser ?? '';
    const tls = config?.redisTls ?? false;
    const target = address === undefined ? undefined : `${address}\n${user}\n${password}\n${tls}`;
    if (this.configured && target === this.target) return;
    this.configured = true;
    this.target = target;
    void this.retire();
    if (address === undefined) {
      this.options.logger?.warn('the managers have no Redis: task output is dropped until they are given --redis');
      return;
    }
    const logger = this.options.logger;
    const connect = this.options.connect ?? redisLogShipper;
    try {
      if (tls && !this.options.tlsIdentity)
        throw new Error('Redis is over TLS and this agent has no certificate for it');
      const shipper: LogShipperOptions = {
        ...(this.options.nodeId ? { nodeId: this.options.nodeId } : {}),
        ...(tls && this.options.tlsIdentity
          ? {
              tls: {
                identity: this.options.tlsIdentity,
                ...(config?.redisServerName ? { serverName: config.redisServerName } : {}),
              },
            }
          : {}),
      };
      this.sink = connect(redisUrl(address, password, { user, tls }), logger, shipper);
      // The password stays out of the log: only the address, the user and whether there is one.
      logger?.info({ redis: address, user, tls, password: password !== '' }, 'shipping task output to Redis');
    } catch (err) {
      logger?.error({ err, redis: address }, 'cannot ship task output to this Redis address');
    }
  }

  stats(): TaskLogsStats {
    const current = this.sink?.stats();
    return {
      shipped: this.retired.shipped + (current?.written ?? 0),
      dropped: this.droppedWithoutRedis + this.retired.dropped + (current ? current.dropped + current.rejected : 0),
      buffered: current?.buffered ?? 0,
    };
  }

  /** Writes what it can of the buffered lines (bounded), then disconnects. Later output is dropped. */
  async close(): Promise<void> {
    this.closed = true;
    await this.retire();
  }

  /** Closes the current sink in the background (it flushes what it can first) and keeps its final counters. */
  private retire(): Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    if (!sink) return Promise.resolve();
    return sink.close().then((final) => {
      this.retired.shipped += final.written;
      this.retired.dropped += final.dropped + final.rejected;
    });
  }
}
