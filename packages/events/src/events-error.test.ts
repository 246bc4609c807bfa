import { describe, expect, it } from 'vitest';
import { EventsError } from './events-error.js';

describe('EventsError.from', () => {
  it('keeps an EventsError as it is', () => {
    const err = new EventsError('closed', 'closed');
    expect(EventsError.from(err)).toBe(err);
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
  ])('maps %s to %s', (err, code) => {
    const mapped = EventsError.from(err);
    expect(mapped).toBeInstanceOf(EventsError);
    expect(mapped.code).toBe(code);
    if (err instanceof Error) expect(mapped.cause).toBe(err);
  });
});
