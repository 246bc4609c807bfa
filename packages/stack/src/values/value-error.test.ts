import { describe, expect, it } from 'vitest';
import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

describe('ValueError', () => {
  it('is an Error with its own name and the given message', () => {
    const error = new ValueError('invalid thing "x": write y');
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(ValueError);
    expect(error.name).toBe('ValueError');
    expect(error.message).toBe('invalid thing "x": write y');
    expect(String(error)).toBe('ValueError: invalid thing "x": write y');
  });
});

describe('quote', () => {
  it('quotes strings, escapes control characters and leaves numbers bare', () => {
    expect(quote('10 seconds')).toBe('"10 seconds"');
    expect(quote('a\nb')).toBe('"a\\nb"');
    expect(quote(42)).toBe('42');
    expect(quote(Number.NaN)).toBe('NaN');
  });

  it('cuts long strings', () => {
    const quoted = quote('x'.repeat(1000));
    expect(quoted.length).toBeLessThan(100);
    expect(quoted).toContain('…');
  });
});

describe('requireScalar', () => {
  it('passes strings and numbers through', () => {
    expect(requireScalar('a', 'thing')).toBe('a');
    expect(requireScalar(1, 'thing')).toBe(1);
  });

  it.each([
    [null, 'null'],
    [undefined, 'undefined'],
    [true, 'boolean'],
    [[1], 'a list'],
    [{ a: 1 }, 'object'],
    [1n, 'bigint'],
  ])('rejects %o with a ValueError naming %s', (input, kind) => {
    expect(() => requireScalar(input, 'thing')).toThrow(ValueError);
    expect(() => requireScalar(input, 'thing')).toThrow(`invalid thing: expected a string or a number, got ${kind}`);
  });
});
