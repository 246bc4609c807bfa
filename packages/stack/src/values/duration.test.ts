import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

const S = 1_000_000_000n;
const MAX = 9223372036854775807n;

describe('parseDuration', () => {
  it.each([
    ['0', 0n],
    ['+0', 0n],
    ['-0', 0n],
    ['0s', 0n],
    ['10s', 10n * S],
    ['1m30s', 90n * S],
    ['1.5h', 5400n * S],
    ['500ms', 500_000_000n],
    ['2h45m', (2n * 3600n + 45n * 60n) * S],
    ['1h0m0s', 3600n * S],
    ['10ns', 10n],
    ['7us', 7000n],
    ['7\u00b5s', 7000n],
    ['7\u03bcs', 7000n],
    ['1.000000001s', 1_000_000_001n],
    ['1.0000000019s', 1_000_000_001n],
    ['0.1s', 100_000_000n],
    ['.5s', 500_000_000n],
    ['1.s', S],
    ['1.5ms', 1_500_000n],
    ['0.5ns', 0n],
    ['1h1h', 7200n * S],
    ['30s1m', 90n * S],
    ['+5s', 5n * S],
    ['0010s', 10n * S],
    ['-0s', 0n],
    ['2562047h47m16.854775807s', MAX],
  ])('parses %s', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it('accepts the number 0', () => {
    expect(parseDuration(0)).toBe(0n);
    expect(parseDuration(-0)).toBe(0n);
  });

  it('keeps fractions of hours exact', () => {
    expect(parseDuration('0.333333333333h')).toBe(1_199_999_999_998n);
    expect(parseDuration('1.1h')).toBe(3960n * S);
  });

  it.each([
    ['10', /needs a unit; write 10s/],
    ['1.5', /needs a unit; write 1.5s/],
    ['-10', /needs a unit/],
  ])('asks for a unit on the bare string %s', (input, message) => {
    expect(() => parseDuration(input)).toThrow(message);
  });

  it('asks for a unit on a bare non-zero number', () => {
    expect(() => parseDuration(10)).toThrow(ValueError);
    expect(() => parseDuration(10)).toThrow('invalid duration 10: a duration needs a unit; write 10s');
    expect(() => parseDuration(1.5)).toThrow(/write 1.5s/);
    expect(() => parseDuration(Number.NaN)).toThrow(/needs a unit/);
    expect(() => parseDuration(Number.POSITIVE_INFINITY)).toThrow(/needs a unit/);
  });

  it('rejects negative durations', () => {
    expect(() => parseDuration('-5s')).toThrow('invalid duration "-5s": a duration must not be negative');
    expect(() => parseDuration('-1ns')).toThrow(/must not be negative/);
    expect(() => parseDuration(-3)).toThrow(/must not be negative/);
  });

  it('explains the syntax for words and spaces', () => {
    expect(() => parseDuration('10 seconds')).toThrow(
      'invalid duration "10 seconds": use a number with a unit such as 10s, 1m30s or 500ms',
    );
    expect(() => parseDuration(' 10s')).toThrow(/without spaces/);
  });

  it.each([
    ['10sec', /unknown unit "sec"; valid units are ns, us, ms, s, m and h/],
    ['1d', /unknown unit "d"/],
    ['1w', /unknown unit "w"/],
    ['5S', /unknown unit "S"/],
    ['1m30', /30 has no unit/],
    ['1.5.5s', /5.5s|has no unit|unknown/],
    ['', /use a number with a unit/],
    ['-', /use a number with a unit/],
    ['+', /use a number with a unit/],
    ['s', /use a number with a unit/],
    ['.s', /use a number with a unit/],
    ['--5s', /use a number with a unit/],
    ['1e3s', /unknown unit "e"/],
    ['0x10s', /unknown unit "x"/],
  ])('rejects %j', (input, message) => {
    expect(() => parseDuration(input)).toThrow(ValueError);
    expect(() => parseDuration(input)).toThrow(message);
  });

  it('rejects values beyond int64 nanoseconds', () => {
    expect(() => parseDuration('2562047h47m16.854775808s')).toThrow(
      /too long, the maximum is 2562047h47m16.854775807s/,
    );
    expect(() => parseDuration('9223372036854775808ns')).toThrow(/too long/);
    expect(() => parseDuration('3000000h')).toThrow(/too long/);
    expect(() => parseDuration(`${'9'.repeat(5000)}s`)).toThrow(/too long/);
    expect(parseDuration('9223372036854775807ns')).toBe(MAX);
    expect(parseDuration(`${'0'.repeat(50)}1s`)).toBe(S);
  });

  it('rejects non-scalar input with a ValueError', () => {
    expect(() => parseDuration(null as unknown as string)).toThrow(ValueError);
    expect(() => parseDuration(true as unknown as string)).toThrow(/expected a string or a number, got boolean/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(/^[+-]?(\d{0,4}(\.\d{0,12})?(ns|us|µs|μs|ms|s|m|h|x)?){1,4}$/),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const ns = parseDuration(input);
          return ns >= 0n && ns <= MAX;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [0n, '0s'],
    [1n, '1ns'],
    [10n, '10ns'],
    [999n, '999ns'],
    [1000n, '1\u00b5s'],
    [1500n, '1.5\u00b5s'],
    [500_000n, '500\u00b5s'],
    [1_000_000n, '1ms'],
    [1_500_000n, '1.5ms'],
    [500_000_000n, '500ms'],
    [999_999_999n, '999.999999ms'],
    [S, '1s'],
    [1_500_000_000n, '1.5s'],
    [1_000_000_001n, '1.000000001s'],
    [59n * S, '59s'],
    [60n * S, '1m0s'],
    [90n * S, '1m30s'],
    [3600n * S, '1h0m0s'],
    [3601n * S, '1h0m1s'],
    [9900n * S, '2h45m0s'],
    [5400n * S + 500_000_000n, '1h30m0.5s'],
    [100n * 3600n * S, '100h0m0s'],
    [MAX, '2562047h47m16.854775807s'],
    [-1n, '-1ns'],
    [-1_500_000_000n, '-1.5s'],
    [-90n * S, '-1m30s'],
    [-9223372036854775808n, '-2562047h47m16.854775808s'],
  ])('formats %s as %s', (ns, expected) => {
    expect(formatDuration(ns)).toBe(expected);
  });

  it('uses the micro sign U+00B5', () => {
    expect(formatDuration(500_000n)).toBe('500µs');
    expect(formatDuration(500_000n).codePointAt(3)).toBe(0xb5);
  });

  it.each([
    ['1m30s', '1m30s'],
    ['90s', '1m30s'],
    ['1.5h', '1h30m0s'],
    ['2h45m', '2h45m0s'],
    ['500ms', '500ms'],
    ['0.5s', '500ms'],
    ['1500us', '1.5ms'],
    ['1000ns', '1µs'],
    ['0', '0s'],
    ['36h', '36h0m0s'],
  ])('round-trips %s to %s', (input, expected) => {
    expect(formatDuration(parseDuration(input))).toBe(expected);
  });

  it('parses what it formats', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX }), (ns) => parseDuration(formatDuration(ns)) === ns),
      { numRuns: 500 },
    );
  });
});
