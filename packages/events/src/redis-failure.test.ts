import { Code, FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { maskCredentials, redisFailure } from './redis-failure.js';

describe('redisFailure', () => {
  it('keeps a FlotillaError as it is', () => {
    const err = new FlotillaError(Code.Canceled, 'closed', { reason: 'closed' });
    expect(redisFailure(err)).toBe(err);
  });

  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'unavailable'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'unavailable'],
    [new Error('Command timed out'), 'unavailable'],
    [new Error('Connection is closed.'), 'unavailable'],
    [
      Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }),
      'unavailable',
    ],
    [new Error('LOADING Redis is loading the dataset in memory'), 'unavailable'],
    [new Error("OOM command not allowed when used memory > 'maxmemory'."), 'unavailable'],
    [
      Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
        previousErrors: [new Error('OOM command not allowed')],
      }),
      'unavailable',
    ],
    [Object.assign(new Error('Command aborted due to connection close'), { name: 'AbortError' }), 'unavailable'],
    [
      Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
        previousErrors: [new Error('Connection is closed.')],
      }),
      'unavailable',
    ],
    [
      Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
        previousErrors: [new Error('ERR wrong number of arguments')],
      }),
      'internal',
    ],
    [new Error('NOAUTH Authentication required.'), 'auth'],
    [new Error('WRONGPASS invalid username-password pair or user is disabled.'), 'auth'],
    [Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'tls'],
    [new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), 'internal'],
    ['a string', 'internal'],
  ])('maps %s to %s', (err, reason) => {
    const mapped = redisFailure(err);
    expect(mapped).toBeInstanceOf(FlotillaError);
    expect(mapped.reason).toBe(reason);
    if (err instanceof Error) expect(mapped.cause).toBe(err);
  });
});

describe('maskCredentials', () => {
  it('masks the arguments of a refused AUTH, which hold the password, and leaves other commands alone', () => {
    const auth = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['flotilla-node-a', 'pw-s3cret'] },
    });
    expect(redisFailure(auth).message).not.toContain('pw-s3cret');
    expect(auth.command.args).toEqual(['***', '***']);
    const xadd = Object.assign(new Error('NOPERM'), { command: { name: 'xadd', args: ['k', '*', 'line', 'x'] } });
    maskCredentials(xadd);
    expect(xadd.command.args).toEqual(['k', '*', 'line', 'x']);
  });
});
