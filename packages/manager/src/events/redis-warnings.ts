/**
 * What is unsafe in how this manager reaches Redis, with what to do: a plain `--redis` sends the managers'
 * password to every node in its session, so any worker (or whoever takes its key) can read and forge every
 * service's logs and events. Said at start and by `cluster inspect`; empty with `--redis-tls` or without Redis.
 */
export function redisWarnings(redis: { tls?: boolean } | undefined): string[] {
  if (!redis || redis.tls) return [];
  return [
    'Redis is reached in plaintext and every node is given its password: any node can read and forge the logs of every service; serve Redis over TLS with a certificate of the cluster CA (flotilla manager redis-tls) and start the managers with --redis-tls, so that each node gets a Redis user that may only append to its own logs',
  ];
}
