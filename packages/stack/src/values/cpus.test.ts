import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCpus, parseCpus } from './cpus.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

const INT64_MAX = 9223372036854775807n;

describe('parseCpus', () => {
  it.each([
    ['0', 0n],
    ['0.0', 0n],
    ['-0', 0n],
    ['1', 1_000_000_000n],
    ['2', 2_000_000_000n],
    ['0.5', 500_000_000n],
    ['.5', 500_000_000n],
    ['1.', 1_000_000_000n],
    ['0.1', 100_000_000n],
    ['0.3', 300_000_000n],
    ['1.25', 1_250_000_000n],
    ['0.000000001', 1n],
    ['0.0000000010000', 1n],
    ['1.5000000000000', 1_500_000_000n],
    ['0007', 7_000_000_000n],
    ['100', 100_000_000_000n],
    ['1e-9', 1n],
    ['1E3', 1_000_000_000_000n],
    ['2.5e-1', 250_000_000n],
    ['1e+2', 100_000_000_000n],
    ['0e999999999999', 0n],
    ['9223372036.854775807', INT64_MAX],
  ])('parses %j', (input, expected) => {
    expect(parseCpus(input)).toBe(expected);
  });

  it.each([
    [0, 0n],
    [0.1, 100_000_000n],
    [0.5, 500_000_000n],
    [1.1, 1_100_000_000n],
    [0.3, 300_000_000n],
    [2, 2_000_000_000n],
    [1e-7, 100n],
    [1e-9, 1n],
  ])('parses the number %d exactly', (input, expected) => {
    expect(parseCpus(input)).toBe(expected);
  });

  it.each([
    ['', /use a decimal number of CPUs/],
    ['abc', /use a decimal number of CPUs/],
    ['.', /use a decimal number/],
    ['-', /use a decimal number/],
    ['e5', /use a decimal number/],
    ['1e', /use a decimal number/],
    ['1/2', /use a decimal number/],
    ['1,5', /use a decimal number/],
    [' 1', /use a decimal number/],
    ['+1', /use a decimal number/],
    ['0x10', /use a decimal number/],
    ['NaN', /use a decimal number/],
    ['Infinity', /use a decimal number/],
    ['-0.5', /must not be negative/],
    ['-2', /must not be negative/],
    ['0.0000000001', /too precise, use at most 9 decimal places/],
    ['1.0000000005', /too precise/],
    ['1e-10', /too precise/],
    ['1e-999999999999', /too precise/],
    ['9223372036.854775808', /too large/],
    ['1e10', /too large/],
    ['1e999999999999', /too large/],
    [`${'9'.repeat(5000)}`, /too large/],
  ])('rejects %j', (input, message) => {
    expect(() => parseCpus(input)).toThrow(ValueError);
    expect(() => parseCpus(input)).toThrow(message);
  });

  it('names the bad value in the message', () => {
    expect(() => parseCpus('two')).toThrow('invalid cpus "two": use a decimal number of CPUs such as 0.5');
    expect(() => parseCpus('0.0000000001')).toThrow('invalid cpus "0.0000000001": too precise');
  });

  it('rejects bad numbers', () => {
    expect(() => parseCpus(Number.NaN)).toThrow('invalid cpus NaN');
    expect(() => parseCpus(Number.POSITIVE_INFINITY)).toThrow(ValueError);
    expect(() => parseCpus(-1)).toThrow(/must not be negative/);
    expect(() => parseCpus(1e-10)).toThrow(/too precise/);
    expect(() => parseCpus(1e300)).toThrow(/too large/);
    expect(() => parseCpus([] as unknown as string)).toThrow(/got a list/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(/^-?\d{0,12}(\.\d{0,12})?(e[+-]?\d{1,3})?$/),
      fc.double(),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const nano = parseCpus(input);
          return nano >= 0n && nano <= INT64_MAX;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatCpus', () => {
  it.each([
    [0n, '0'],
    [1n, '0.000000001'],
    [500_000_000n, '0.5'],
    [100_000_000n, '0.1'],
    [1_250_000_000n, '1.25'],
    [2_000_000_000n, '2'],
    [123_000_000_000n, '123'],
    [INT64_MAX, '9223372036.854775807'],
    [-500_000_000n, '-0.5'],
  ])('formats %s as %s', (nano, expected) => {
    expect(formatCpus(nano)).toBe(expected);
  });

  it.each([
    ['0.5', '0.5'],
    ['.50', '0.5'],
    ['2.000', '2'],
    ['1e-9', '0.000000001'],
    ['0.100', '0.1'],
  ])('round-trips %s to %s', (input, expected) => {
    expect(formatCpus(parseCpus(input))).toBe(expected);
  });

  it('parses what it formats', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: INT64_MAX }), (nano) => parseCpus(formatCpus(nano)) === nano),
      { numRuns: 500 },
    );
  });
});
