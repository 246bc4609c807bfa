import { redisUrl } from '@flotilla/agent';
import { Code, FlotillaError } from '@flotilla/api';
import type { RedisConnectionOptions, TlsIdentity } from '@flotilla/events';
import { REDIS_SERVER_NAME } from '../cluster/redis-certificates.js';

/** How a manager reaches Redis (`--redis`, `--redis-password-file`, `--redis-tls`). */
export interface ManagerRedis {
  address: string;
  password?: string;
  /** TLS with the manager's certificate, and a Redis user per node (see LogsConfig in dispatcher.proto). */
  tls?: boolean;
}

/**
 * The connection options of a manager's Redis clients: the managers' (default) user, and with TLS the manager's
 * own certificate (asked for at each connection, so a renewed one is used) and the cluster's CAs. TLS without a
 * password is refused: every node has a certificate of the cluster CA, so the default user would be theirs too.
 */
export function managerRedisConnection(
  redis: ManagerRedis,
  identity: () => TlsIdentity,
): Pick<RedisConnectionOptions, 'url' | 'tls'> {
  if (redis.tls && !redis.password) {
    throw new FlotillaError(
      Code.InvalidArgument,
      '--redis-tls needs --redis-password-file: with TLS every node reaches Redis, and the password keeps them out of the managers’ user',
    );
  }
  const url = redisUrl(redis.address, redis.password, { tls: redis.tls ?? false });
  return redis.tls ? { url, tls: { serverName: REDIS_SERVER_NAME, identity } } : { url };
}
