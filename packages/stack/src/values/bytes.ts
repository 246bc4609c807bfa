import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

const INT64_MAX = 9223372036854775807n;

// Binary multipliers, as go-units' RAMInBytes uses for memory, shm_size and tmpfs sizes.
const MULTIPLIERS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['k', 1n << 10n],
  ['m', 1n << 20n],
  ['g', 1n << 30n],
  ['t', 1n << 40n],
  ['p', 1n << 50n],
]);

// go-units' grammar: a decimal, an optional space, then an optional unit letter, 'i' and 'b' (kib, MB, g, b ...).
const SIZE = /^(\d+)(?:\.(\d+))? ?([kmgtp]?)(i?)(b?)$/i;

const HINT = 'use a number of bytes with an optional unit b, k, m, g, t or p, such as 536870912, 512m or 1.5g';

/** Parses a byte size the way Docker's go-units RAMInBytes does; fractions are truncated toward zero. */
export function parseBytes(input: string | number): bigint {
  const value = requireScalar(input, 'size');
  if (typeof value === 'number') {
    // A YAML number is a count of bytes.
    if (!Number.isInteger(value)) {
      const why = Number.isFinite(value) && value >= 0 ? 'a number of bytes must be a whole number' : HINT;
      throw new ValueError(`invalid size ${quote(value)}: ${why}`);
    }
    if (value < 0) throw new ValueError(`invalid size ${quote(value)}: a size must not be negative`);
    return checkRange(BigInt(value), quote(value));
  }

  const q = quote(value);
  if (value.startsWith('-')) throw new ValueError(`invalid size ${q}: a size must not be negative`);
  const match = SIZE.exec(value);
  if (match === null) throw new ValueError(`invalid size ${q}: ${HINT}`);
  const [, whole = '', fraction = '', unit = '', binary = ''] = match;
  // go-units accepts "kib" and "kb" but not a lone "i" or "ib" without a unit letter.
  if (binary !== '' && unit === '') throw new ValueError(`invalid size ${q}: ${HINT}`);

  const multiplier = MULTIPLIERS.get(unit.toLowerCase()) ?? 1n;
  // Anything over 19 integer digits overflows int64 whatever the unit; checking first avoids huge bigints.
  if (whole.replace(/^0+/, '').length > 19) throw tooLarge(q);
  let bytes = BigInt(whole) * multiplier;
  if (fraction !== '') bytes += (BigInt(fraction) * multiplier) / 10n ** BigInt(fraction.length);
  return checkRange(bytes, q);
}

function checkRange(bytes: bigint, q: string): bigint {
  if (bytes > INT64_MAX) throw tooLarge(q);
  return bytes;
}

function tooLarge(q: string): ValueError {
  return new ValueError(`invalid size ${q}: too large, the maximum is ${INT64_MAX} bytes (just under 8192p)`);
}

/** The decimal number of bytes, as `docker stack config` prints memory limits. */
export function formatBytes(n: bigint): string {
  return n.toString();
}
