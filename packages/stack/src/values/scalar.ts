import { ValueError } from './value-error.js';

const MAX_QUOTED = 80;

/** Quotes a value for an error message; long strings are cut so one bad value cannot flood the output. */
export function quote(value: string | number): string {
  if (typeof value === 'number') return String(value);
  const cut = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
  // JSON escaping keeps control characters and lone surrogates readable.
  return JSON.stringify(cut);
}

/**
 * YAML may hand us booleans, nulls or maps where a scalar belongs; the types say string | number,
 * but the parsers must still answer with a ValueError rather than a TypeError.
 */
export function requireScalar(input: unknown, what: string): string | number {
  if (typeof input === 'string' || typeof input === 'number') return input;
  const kind = input === null ? 'null' : Array.isArray(input) ? 'a list' : typeof input;
  throw new ValueError(`invalid ${what}: expected a string or a number, got ${kind}`);
}
