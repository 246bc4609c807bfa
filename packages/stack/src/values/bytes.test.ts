import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBytes, parseBytes } from './bytes.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

const KIB = 1024n;
const MIB = KIB * KIB;
const GIB = MIB * KIB;
const INT64_MAX = 9223372036854775807n;

describe('parseBytes', () => {
  it.each([
    ['0', 0n],
    ['1024', 1024n],
    ['100b', 100n],
    ['100B', 100n],
    ['1k', KIB],
    ['1K', KIB],
    ['1kb', KIB],
    ['1KB', KIB],
    ['1kib', KIB],
    ['1KiB', KIB],
    ['1KIB', KIB],
    ['1 k', KIB],
    ['1 KiB', KIB],
    ['1 ', 1n],
    ['512m', 512n * MIB],
    ['512M', 512n * MIB],
    ['512MB', 512n * MIB],
    ['512mi', 512n * MIB],
    ['2g', 2n * GIB],
    ['2GiB', 2n * GIB],
    ['1t', GIB * KIB],
    ['1p', GIB * MIB],
    ['1.5k', 1536n],
    ['0.5m', 524288n],
    ['1.5g', 1610612736n],
    ['0.1k', 102n],
    ['1.999b', 1n],
    ['0.0001k', 0n],
    ['007k', 7n * KIB],
    ['8191.999p', 9223370910954868965n],
    ['9223372036854775807', INT64_MAX],
  ])('parses %j', (input, expected) => {
    expect(parseBytes(input)).toBe(expected);
  });

  it('reads a number as bytes', () => {
    expect(parseBytes(0)).toBe(0n);
    expect(parseBytes(536870912)).toBe(536870912n);
    expect(parseBytes(2 ** 62)).toBe(2n ** 62n);
  });

  it.each([
    ['', /use a number of bytes with an optional unit/],
    ['abc', /use a number of bytes/],
    ['k', /use a number of bytes/],
    ['1x', /use a number of bytes/],
    ['1kk', /use a number of bytes/],
    ['1kbb', /use a number of bytes/],
    ['1i', /use a number of bytes/],
    ['1ib', /use a number of bytes/],
    ['1bi', /use a number of bytes/],
    ['1  k', /use a number of bytes/],
    [' 1k', /use a number of bytes/],
    ['1.2.3k', /use a number of bytes/],
    ['.5k', /use a number of bytes/],
    ['1.k', /use a number of bytes/],
    ['1e3', /use a number of bytes/],
    ['0x10', /use a number of bytes/],
    ['1,5g', /use a number of bytes/],
    ['-1', /must not be negative/],
    ['-1k', /must not be negative/],
  ])('rejects %j', (input, message) => {
    expect(() => parseBytes(input)).toThrow(ValueError);
    expect(() => parseBytes(input)).toThrow(message);
  });

  it('names the bad value in the message', () => {
    expect(() => parseBytes('1x')).toThrow('invalid size "1x": use a number of bytes with an optional unit b, k, m, g');
  });

  it('rejects negative, fractional and non-finite numbers', () => {
    expect(() => parseBytes(-1)).toThrow('invalid size -1: a size must not be negative');
    expect(() => parseBytes(1.5)).toThrow('invalid size 1.5: a number of bytes must be a whole number');
    expect(() => parseBytes(Number.NaN)).toThrow(ValueError);
    expect(() => parseBytes(Number.POSITIVE_INFINITY)).toThrow(ValueError);
  });

  it('rejects sizes beyond int64', () => {
    expect(() => parseBytes('9223372036854775808')).toThrow(/too large/);
    expect(() => parseBytes('8192p')).toThrow(/too large/);
    expect(() => parseBytes('9999999999999999999999999k')).toThrow(/too large/);
    expect(() => parseBytes(`${'9'.repeat(5000)}`)).toThrow(/too large/);
    expect(() => parseBytes(1e300)).toThrow(/too large/);
    expect(parseBytes(`${'0'.repeat(40)}1k`)).toBe(KIB);
  });

  it('rejects non-scalar input with a ValueError', () => {
    expect(() => parseBytes({} as unknown as string)).toThrow(/expected a string or a number, got object/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(/^-?\d{0,20}(\.\d{0,20})? ?[kKmMgGtTpPx]?[iI]?[bB]?$/),
      fc.double(),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const bytes = parseBytes(input);
          return bytes >= 0n && bytes <= INT64_MAX;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatBytes', () => {
  it('prints the decimal number of bytes', () => {
    expect(formatBytes(0n)).toBe('0');
    expect(formatBytes(536870912n)).toBe('536870912');
    expect(formatBytes(INT64_MAX)).toBe('9223372036854775807');
  });

  it.each(['512m', '1.5g', '1k', '100'])('round-trips %s through its byte count', (input) => {
    const bytes = parseBytes(input);
    expect(parseBytes(formatBytes(bytes))).toBe(bytes);
  });
});
