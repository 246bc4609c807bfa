import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { redact, redisOptions } from './connection.js';

function invalid(fn: () => unknown): void {
  expect(fn).toThrow(FlotillaError);
  try {
    fn();
  } catch (err) {
    expect((err as FlotillaError).reason).toBe('invalid-argument');
  }
}

describe('Redis connection options', () => {
  it('reads host, port, database and a percent-encoded password from the URL', () => {
    const o = redisOptions({ url: 'redis://:p%40ss%3Aword@127.0.0.1:6390/2' });
    expect(o).toMatchObject({ host: '127.0.0.1', port: 6390, db: 2, password: 'p@ss:word' });
    expect(o.username).toBeUndefined();
    expect(o.tls).toBeUndefined();
  });

  it('reads a username (Redis 6 ACL) and defaults the port', () => {
    expect(redisOptions({ url: 'redis://flotilla:secret@redis.local' })).toMatchObject({
      host: 'redis.local',
      port: 6379,
      username: 'flotilla',
      password: 'secret',
    });
  });

  it('fails fast instead of queueing while disconnected', () => {
    const o = redisOptions({ url: 'redis://127.0.0.1', commandTimeoutMs: 750 });
    expect(o).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: 750,
    });
  });

  it('reconnects forever with a capped backoff', () => {
    const retry = redisOptions({ url: 'redis://127.0.0.1', reconnectDelayMs: { first: 100, max: 1_000 } })
      .retryStrategy as (times: number) => number;
    for (const times of [1, 2, 5, 50, 10_000]) {
      const delay = retry(times);
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(1_000);
    }
    expect(retry(1)).toBeLessThanOrEqual(100);
  });

  it('turns on TLS for rediss://, with an optional server name to verify instead of the host', () => {
    expect(redisOptions({ url: 'rediss://:pw@redis.example:6380' }).tls).toEqual({});
    expect(redisOptions({ url: 'rediss://10.0.0.5', tls: { serverName: 'redis.internal' } }).tls).toEqual({
      servername: 'redis.internal',
    });
  });

  it('refuses TLS options with a plain redis:// URL rather than sending the password in clear', () => {
    invalid(() => redisOptions({ url: 'redis://:pw@127.0.0.1', tls: { caFile: '/nonexistent' } }));
  });

  it('says so when the CA file cannot be read', () => {
    invalid(() => redisOptions({ url: 'rediss://127.0.0.1', tls: { caFile: '/nonexistent/ca.pem' } }));
  });

  it.each(['not a url', 'http://127.0.0.1:6379', 'redis://127.0.0.1/x'])('rejects %j', (url) => {
    invalid(() => redisOptions({ url }));
  });

  it('keeps passwords out of messages and logs', () => {
    expect(redact('redis://:secret@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redact('rediss://user:secret@h/0')).toBe('rediss://user:***@h/0');
    expect(redact('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
