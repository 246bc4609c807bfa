import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Code, FlotillaError } from '@flotilla/api';
import { Redis, type RedisOptions } from 'ioredis';
import { type EventsLogger, silentLogger } from './logger.js';
import { maskCredentials, redisFailure } from './redis-failure.js';

export interface RedisConnectionOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS. Percent-encode special characters in
   * the password.
   */
  url: string;
  /** Only with `rediss://`: how to verify the server, and the client certificate to present. */
  tls?: RedisTlsOptions;
  /**
   * Ask INFO whether the server is still loading before the first command (default true). A user whose ACL
   * allows only appends (a node's log shipper) turns it off: INFO is refused to it.
   */
  readyCheck?: boolean;
  /** Deadline of each command; one that takes longer fails as `unavailable` (default 2 s). */
  commandTimeoutMs?: number;
  /** Deadline to open a connection (default 2 s). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: doubles from the first delay up to the cap, with jitter (default 100 ms → 2 s). */
  reconnectDelayMs?: { first: number; max: number };
  /** Shown in CLIENT LIST. */
  name?: string;
  logger?: EventsLogger;
}

/** The PEM certificates a client presents and trusts; read again at every connection (they are renewed). */
export interface TlsIdentity {
  certPem: string;
  keyPem: string;
  /** The CAs to verify the server with. */
  caPem: string;
}

export interface RedisTlsOptions {
  /** A PEM CA bundle to verify the server with (default: the system CAs). */
  caFile?: string;
  /** The name the server's certificate must carry (default: the host of the URL). */
  serverName?: string;
  /** A client certificate and its key (PEM files), for a server that asks clients for one. */
  certFile?: string;
  keyFile?: string;
  /** A client certificate, key and CAs from memory, asked for at each (re)connection; overrides the files. */
  identity?: () => TlsIdentity;
}

/**
 * Turns the options into ioredis options. Exposed for tests; most callers want `connectRedis`.
 *
 * Everything here is about failing fast: no offline queue (a command while disconnected fails at once instead of
 * waiting in an unbounded queue), no retries of a command across reconnects, a deadline on every command. The
 * writers keep their own bounded buffers and retry on their own terms; ioredis only reconnects, forever, with backoff.
 */
export function redisOptions(options: RedisConnectionOptions): RedisOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (err) {
    throw new FlotillaError(Code.InvalidArgument, `invalid Redis URL ${redact(options.url)}: use redis://host:port`, {
      cause: err,
      reason: 'invalid-argument',
    });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new FlotillaError(
      Code.InvalidArgument,
      `Redis URL must start with redis:// or rediss://, got ${url.protocol}//`,
      { reason: 'invalid-argument' },
    );
  }
  const secure = url.protocol === 'rediss:';
  if (options.tls && !secure) {
    // Refuse rather than silently sending the password in clear text.
    throw new FlotillaError(Code.InvalidArgument, 'tls options were given with a redis:// URL: use rediss:// for TLS', {
      reason: 'invalid-argument',
    });
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isSafeInteger(db) || db < 0) {
    throw new FlotillaError(Code.InvalidArgument, `Redis URL database must be a number, got ${url.pathname.slice(1)}`, {
      reason: 'invalid-argument',
    });
  }
  const first = options.reconnectDelayMs?.first ?? 100;
  const max = options.reconnectDelayMs?.max ?? 2_000;
  const result: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    retryStrategy: (times) => {
      const delay = Math.min(max, first * 2 ** Math.min(times - 1, 20));
      return Math.round(delay / 2 + Math.random() * (delay / 2));
    },
  };
  if (url.username) result.username = decodeURIComponent(url.username);
  if (url.password) result.password = decodeURIComponent(url.password);
  if (options.name) result.connectionName = options.name;
  if (options.readyCheck === false) result.enableReadyCheck = false;
  if (secure) result.tls = tlsOptions(options.tls);
  return result;
}

function tlsOptions(tls: RedisTlsOptions | undefined): ConnectionOptions {
  // Node checks the certificate against the host (DNS name or IP) by itself; servername only overrides that.
  const out: ConnectionOptions = tls?.serverName ? { servername: tls.serverName } : {};
  if (tls?.caFile) out.ca = readTlsFile(tls.caFile, 'CA');
  if (tls?.certFile) out.cert = readTlsFile(tls.certFile, 'client certificate');
  if (tls?.keyFile) out.key = readTlsFile(tls.keyFile, 'client key');
  const identity = tls?.identity;
  if (identity) {
    // ioredis copies these options (Object.assign) at every connection: getters hand it the current files, so a
    // renewed certificate is used from the next reconnection on.
    for (const [name, pick] of [
      ['cert', (i: TlsIdentity) => i.certPem],
      ['key', (i: TlsIdentity) => i.keyPem],
      ['ca', (i: TlsIdentity) => i.caPem],
    ] as const) {
      Object.defineProperty(out, name, { enumerable: true, get: () => pick(identity()) });
    }
  }
  return out;
}

function readTlsFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new FlotillaError(Code.InvalidArgument, `cannot read the Redis ${what} file ${file}: ${String(err)}`, {
      cause: err,
      reason: 'invalid-argument',
    });
  }
}

/** A Redis client for this package: fails fast while Redis is away and reconnects with backoff in the background. */
export function connectRedis(options: RedisConnectionOptions): Redis {
  const redis = new Redis(redisOptions(options));
  watchConnection(redis, options.logger ?? silentLogger, redact(options.url));
  return redis;
}

// The last connection error of each client, so that a wait that times out can say why (a wrong password or CA
// is not the same advice as "Redis is down").
const lastErrors = new WeakMap<Redis, Error>();

/** Remembers a client's latest connection error until it is ready again, and keeps ioredis from printing them. */
export function recordErrors(redis: Redis, onError: (err: Error) => void = () => undefined): void {
  redis.on('error', (err: Error) => {
    maskCredentials(err);
    lastErrors.set(redis, err);
    onError(err);
  });
  redis.on('ready', () => lastErrors.delete(redis));
}

/** Logs connection changes once per change (not once per reconnect attempt). */
export function watchConnection(redis: Redis, logger: EventsLogger, where: string): void {
  let lost = false;
  let warned: string | undefined;
  recordErrors(redis, (err) => {
    const code = redisFailure(err).reason;
    // A wrong password or CA does not fix itself: say so once, loudly; the rest is reconnect noise.
    if ((code === 'auth' || code === 'tls') && warned !== err.message) {
      warned = err.message;
      logger.error({ err, redis: where }, `redis refuses this client (${code}): check the URL and TLS settings`);
    } else {
      logger.debug({ err, redis: where }, 'redis connection error');
    }
  });
  redis.on('close', () => {
    if (lost) return;
    lost = true;
    logger.warn({ redis: where }, 'redis connection lost: reconnecting with backoff, writes are buffered');
  });
  redis.on('ready', () => {
    if (lost) logger.info({ redis: where }, 'redis connection restored');
    lost = false;
  });
}

// Clients closed through this module. ioredis never reaches 'end' when disconnected between reconnect attempts
// (it only clears the timer), so "closed" is tracked here, with callbacks for waits that must end with it.
const closedClients = new WeakSet<Redis>();
const closeWaiters = new WeakMap<Redis, Set<() => void>>();

export function isClosed(redis: Redis): boolean {
  return redis.status === 'end' || closedClients.has(redis);
}

function onClosed(redis: Redis, callback: () => void): () => void {
  const waiters = closeWaiters.get(redis) ?? new Set();
  closeWaiters.set(redis, waiters);
  waiters.add(callback);
  redis.once('end', callback);
  return () => {
    waiters.delete(callback);
    redis.off('end', callback);
  };
}

function markClosed(redis: Redis): void {
  closedClients.add(redis);
  const waiters = closeWaiters.get(redis);
  closeWaiters.delete(redis);
  for (const callback of waiters ?? []) callback();
}

/**
 * Resolves once the client is ready. Fails after `timeoutMs` as `unavailable`, or as `auth`/`tls` when that is
 * what the last connection attempt ran into; fails as `closed` if the client is or gets closed.
 */
export function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (isClosed(redis))
    return Promise.reject(new FlotillaError(Code.Canceled, 'the Redis client was closed', { reason: 'closed' }));
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: FlotillaError) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      offClosed();
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const offClosed = onClosed(redis, () =>
      done(new FlotillaError(Code.Canceled, 'the Redis client was closed', { reason: 'closed' })),
    );
    const timer = setTimeout(() => done(notReady(redis, timeoutMs)), timeoutMs);
    redis.on('ready', onReady);
  });
}

function notReady(redis: Redis, timeoutMs: number): FlotillaError {
  const last = lastErrors.get(redis);
  const cause = last ? redisFailure(last) : undefined;
  if (cause && cause.code !== Code.Unavailable && cause.code !== Code.Internal) return cause;
  const why = last ? ` (last error: ${last.message})` : '';
  return new FlotillaError(Code.Unavailable, `Redis was not reachable within ${timeoutMs} ms${why}: retry later`, {
    cause: last,
    reason: 'unavailable',
  });
}

/** Drops the connection at once and stops reconnecting; pending commands fail. */
export function disconnectNow(redis: Redis): void {
  markClosed(redis);
  redis.disconnect();
}

/** Closes a client: QUIT when connected (bounded by the command timeout), else drops the socket at once. */
export async function disconnect(redis: Redis): Promise<void> {
  if (isClosed(redis)) return;
  markClosed(redis);
  if (redis.status === 'ready') {
    try {
      const ended = new Promise((resolve) => redis.once('end', resolve));
      await redis.quit();
      // QUIT's reply comes before the socket closes; wait (briefly) so callers see the client ended.
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    } catch {
      // the connection went away while quitting: drop it below
    }
  }
  if (redis.status !== 'end') redis.disconnect();
}

/** The URL without its password, for logs and messages. */
export function redact(url: string): string {
  return url.replace(
    /\/\/([^@/]*)@/,
    (_m, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : auth}@`,
  );
}
