import { hostname } from 'node:os';
import { formatHostPort, type LogsConfig, logPolicy, parseHostPort, type SyslogTarget, type Task } from '@flotilla/api';
import { type LogShipperOptions, redisLogShipper, type TlsIdentity } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { TaskOutput } from './executor/executor.js';
import { ByteWindow } from './log-retention.js';
import { formatSyslog, syslogTag } from './syslog-format.js';
import { SyslogSender } from './syslog-sender.js';

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
  append(taskId: string, stream: 'stdout' | 'stderr', lines: readonly string[], cap?: { maxLen: number }): void;
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
  /** Lines not kept on purpose: their service's logging driver is none. */
  discarded: number;
  /** Lines sent to syslog servers, and lost on the way there (no server reached, over its buffer). */
  syslogSent: number;
  syslogDropped: number;
}

/** What the node does with one task's output, from its service's `logging:` (see logPolicy). */
interface TaskRoute {
  keep: boolean;
  window?: ByteWindow;
  syslog?: { sender: SyslogSender; target: SyslogTarget; tag: string };
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
  private readonly retired = { shipped: 0, dropped: 0, syslogSent: 0, syslogDropped: 0 };
  private closed = false;
  private discarded = 0;
  /** Tasks whose logging says more than "keep everything", by task ID. */
  private readonly routes = new Map<string, TaskRoute>();
  /** One sender per syslog server, shared by the tasks that ship there. */
  private readonly senders = new Map<string, { sender: SyslogSender; users: Set<string> }>();
  private readonly hostname = hostname();

  constructor(private readonly options: TaskLogsOptions = {}) {
    if (options.redisAddress) parseRedisAddress(options.redisAddress);
  }

  /** What executors call with their tasks' output. Synchronous; never throws. */
  readonly output: TaskOutput = (taskId, stream, lines) => {
    const route = this.routes.get(taskId);
    if (route?.syslog) this.ship(route.syslog, stream, lines);
    if (route && !route.keep) {
      this.discarded += lines.length;
      return;
    }
    const maxLen = route?.window?.add(lines);
    if (!this.sink) this.droppedWithoutRedis += lines.length;
    else if (maxLen === undefined) this.sink.append(taskId, stream, lines);
    else this.sink.append(taskId, stream, lines, { maxLen });
  };

  /**
   * Follows a task's `logging:` from now until `unbind`: keep its lines or not, cap what its stream keeps by the
   * driver's bytes, ship them to a syslog server. Called before the task runs (or is adopted).
   */
  bind(task: Task): void {
    this.unbind(task.id);
    if (this.closed || !task.logDriver) return;
    const { policy } = logPolicy(task.logDriver);
    const route: TaskRoute = { keep: policy.keep };
    if (policy.maxBytes !== undefined) route.window = new ByteWindow(policy.maxBytes);
    if (policy.syslog) {
      const target = policy.syslog;
      const key = JSON.stringify([target.protocol, target.host, target.port, target.path]);
      let shared = this.senders.get(key);
      if (!shared) {
        shared = { sender: new SyslogSender(target, this.options.logger), users: new Set() };
        this.senders.set(key, shared);
      }
      shared.users.add(task.id);
      const name = `${task.serviceName}.${task.slot}.${task.id}`;
      const tag = syslogTag(target.tag, { id: task.id, name, image: task.spec?.image ?? '' });
      route.syslog = { sender: shared.sender, target, tag };
    }
    if (route.keep && !route.window && !route.syslog) return;
    this.routes.set(task.id, route);
  }

  /** The task is gone from the node (its output drained): what was kept for it goes. */
  unbind(taskId: string): void {
    const route = this.routes.get(taskId);
    this.routes.delete(taskId);
    if (!route?.syslog) return;
    for (const [key, shared] of this.senders) {
      if (shared.sender !== route.syslog.sender) continue;
      shared.users.delete(taskId);
      if (shared.users.size === 0) {
        this.senders.delete(key);
        void this.retireSender(shared.sender);
      }
    }
  }

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
    const syslog = [...this.senders.values()].map((s) => s.sender.stats());
    return {
      shipped: this.retired.shipped + (current?.written ?? 0),
      dropped: this.droppedWithoutRedis + this.retired.dropped + (current ? current.dropped + current.rejected : 0),
      buffered: current?.buffered ?? 0,
      discarded: this.discarded,
      syslogSent: this.retired.syslogSent + syslog.reduce((n, s) => n + s.sent, 0),
      syslogDropped: this.retired.syslogDropped + syslog.reduce((n, s) => n + s.dropped, 0),
    };
  }

  /** Writes what it can of the buffered lines (bounded), then disconnects. Later output is dropped. */
  async close(): Promise<void> {
    this.closed = true;
    const senders = [...this.senders.values()].map((s) => s.sender);
    this.senders.clear();
    this.routes.clear();
    await Promise.all([this.retire(), ...senders.map((s) => this.retireSender(s))]);
  }

  private ship(route: NonNullable<TaskRoute['syslog']>, stream: 'stdout' | 'stderr', lines: readonly string[]): void {
    const at = new Date();
    for (const line of lines) {
      route.sender.send(formatSyslog(route.target, { stream, line, at, hostname: this.hostname, tag: route.tag }));
    }
  }

  private async retireSender(sender: SyslogSender): Promise<void> {
    const final = await sender.close();
    this.retired.syslogSent += final.sent;
    this.retired.syslogDropped += final.dropped;
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
