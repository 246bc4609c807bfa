import { describe, expect, it } from 'vitest';
import { REDIS_SERVER_NAME } from '../cluster/redis-certificates.js';
import { managerRedisConnection } from './redis-client.js';
import { redisWarnings } from './redis-warnings.js';

const identity = () => ({ certPem: 'CERT', keyPem: 'KEY', caPem: 'CA' });

describe("a manager's Redis connection", () => {
  it('goes over TLS with its certificate and checks the name Redis is issued for', () => {
    const c = managerRedisConnection({ address: '10.0.0.5:6379', password: 'p w', tls: true }, identity);
    expect(c.url).toBe('rediss://:p%20w@10.0.0.5:6379');
    expect(c.tls?.serverName).toBe(REDIS_SERVER_NAME);
    expect(c.tls?.identity?.()).toEqual(identity());
  });

  it('refuses TLS without the managers’ password, saying what to add', () => {
    expect(() => managerRedisConnection({ address: '10.0.0.5:6379', tls: true }, identity)).toThrow(
      /--redis-tls needs --redis-password-file/,
    );
  });

  it('keeps plaintext working, with a warning that says what to do', () => {
    const c = managerRedisConnection({ address: '10.0.0.5:6379', password: 'pw' }, identity);
    expect(c).toEqual({ url: 'redis://:pw@10.0.0.5:6379' });
    const [warning] = redisWarnings({});
    expect(warning).toMatch(/plaintext.*any node can read and forge.*--redis-tls/);
    expect(redisWarnings({ tls: true })).toEqual([]);
    expect(redisWarnings(undefined)).toEqual([]);
  });
});
