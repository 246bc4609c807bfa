import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const SECOND = 1000n * MS;
const MINUTE = 60n * SECOND;
const HOUR = 60n * MINUTE;

/** Go's Duration is an int64 of nanoseconds. */
const MAX_DURATION = 9223372036854775807n;

// Both micro sign (U+00B5) and Greek mu (U+03BC) are accepted, as Go does.
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', NS],
  ['us', US],
  ['\u00b5s', US],
  ['\u03bcs', US],
  ['ms', MS],
  ['s', SECOND],
  ['m', MINUTE],
  ['h', HOUR],
]);

const HINT = 'use a number with a unit such as 10s, 1m30s or 500ms';

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/**
 * Parses a duration with Go's time.ParseDuration syntax (what Docker and Compose accept) into nanoseconds.
 * Fractions are computed exactly; digits beyond nanosecond precision are truncated.
 */
export function parseDuration(input: string | number): bigint {
  const value = requireScalar(input, 'duration');
  if (typeof value === 'number') {
    if (value === 0) return 0n;
    if (value < 0) throw new ValueError(`invalid duration ${quote(value)}: a duration must not be negative`);
    // A bare YAML number is ambiguous (seconds? nanoseconds?), so Compose refuses it and so do we.
    const hint = Number.isFinite(value) && value > 0 ? `; write ${value}s, ${value}ms or ${value}m` : '';
    throw new ValueError(`invalid duration ${quote(value)}: a duration needs a unit${hint} (${HINT})`);
  }

  const q = quote(value);
  let s = value;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new ValueError(`invalid duration ${q}: ${HINT}`);
  if (/^\d+(\.\d*)?$|^\.\d+$/.test(s)) {
    throw new ValueError(`invalid duration ${q}: a duration needs a unit; write ${s}s, ${s}ms or ${s}m (${HINT})`);
  }
  if (/\s/.test(s)) throw new ValueError(`invalid duration ${q}: ${HINT}, without spaces`);

  let total = 0n;
  let i = 0;
  while (i < s.length) {
    const start = i;
    while (isDigit(s[i])) i++;
    const whole = s.slice(start, i);
    let fraction = '';
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      while (isDigit(s[i])) i++;
      fraction = s.slice(fracStart, i);
    }
    if (whole === '' && fraction === '') throw new ValueError(`invalid duration ${q}: ${HINT}`);

    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    const unit = s.slice(unitStart, i);
    if (unit === '') {
      const number = s.slice(start, i);
      throw new ValueError(`invalid duration ${q}: ${number} has no unit (${HINT})`);
    }
    const scale = UNITS.get(unit);
    if (scale === undefined) {
      throw new ValueError(
        `invalid duration ${q}: unknown unit ${quote(unit)}; valid units are ns, us, ms, s, m and h`,
      );
    }

    // More than 20 significant digits overflows int64 whatever the unit; checking first avoids huge bigints.
    const digits = whole.replace(/^0+/, '');
    if (digits.length > 20) throw tooLong(q);
    total += BigInt(digits || '0') * scale;
    if (fraction !== '') total += (BigInt(fraction) * scale) / 10n ** BigInt(fraction.length);
    if (total > MAX_DURATION) throw tooLong(q);
  }

  if (negative && total > 0n) throw new ValueError(`invalid duration ${q}: a duration must not be negative`);
  return total;
}

function tooLong(q: string): ValueError {
  return new ValueError(`invalid duration ${q}: too long, the maximum is ${formatDuration(MAX_DURATION)}`);
}

/** Formats nanoseconds exactly like Go's time.Duration.String(): 1h0m0s, 1m30s, 1.5s, 500ms, 1.5µs, 10ns. */
export function formatDuration(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const u = ns < 0n ? -ns : ns;
  if (u === 0n) return '0s';
  if (u < SECOND) {
    // Below a second Go switches to the largest unit that keeps the integer part non-zero.
    if (u < US) return `${sign}${u}ns`;
    if (u < MS) return `${sign}${decimal(u, 3)}\u00b5s`;
    return `${sign}${decimal(u, 6)}ms`;
  }
  const seconds = u / SECOND;
  const secondsText = `${decimal((seconds % 60n) * SECOND + (u % SECOND), 9)}s`;
  const minutes = seconds / 60n;
  if (minutes === 0n) return `${sign}${secondsText}`;
  const hours = minutes / 60n;
  // Go prints the minutes whenever there are hours, even when they are zero: 1h0m0s.
  const hoursText = hours === 0n ? '' : `${hours}h`;
  return `${sign}${hoursText}${minutes % 60n}m${secondsText}`;
}

/** value / 10^places as a decimal without trailing zeros (and without the point when it is whole). */
function decimal(value: bigint, places: number): string {
  const base = 10n ** BigInt(places);
  const fraction = (value % base).toString().padStart(places, '0').replace(/0+$/, '');
  return fraction === '' ? `${value / base}` : `${value / base}.${fraction}`;
}
