import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { compareStreamIds, parseStreamId, previousStreamId, streamIdTime } from './stream-id.js';

describe('stream IDs', () => {
  it('normalises ms and ms-seq', () => {
    expect(parseStreamId('5')).toBe('5-0');
    expect(parseStreamId('1700000000000-12')).toBe('1700000000000-12');
    expect(streamIdTime('1700000000000-12')).toBe(1_700_000_000_000);
  });

  it.each(['', '$', '-', '+', '(5-0', '5-', 'a-1', '1-2-3'])('rejects %j', (id) => {
    expect(() => parseStreamId(id)).toThrow(FlotillaError);
  });

  it('finds the ID just before another, across a millisecond', () => {
    expect(previousStreamId('10-3')).toBe('10-2');
    expect(previousStreamId('10-0')).toBe('9-18446744073709551615');
    expect(previousStreamId('0-0')).toBe('0-0');
  });

  it('orders IDs numerically, not as text', () => {
    expect(compareStreamIds('9-0', '10-0')).toBe(-1);
    expect(compareStreamIds('10-10', '10-9')).toBe(1);
    expect(compareStreamIds('10', '10-0')).toBe(0);
  });
});
