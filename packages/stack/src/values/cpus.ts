import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

const INT64_MAX = 9223372036854775807n;
const NANO_DIGITS = 9;

// A plain decimal with an optional exponent: YAML numbers such as 1e-7 stringify that way.
const DECIMAL = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

const HINT = 'use a decimal number of CPUs such as 0.5, 1 or 2.25';

/**
 * Parses a CPU count into nano-CPUs like Docker's ParseCPUs, with exact decimal arithmetic
 * (0.1 is 100000000n, not whatever 0.1 * 1e9 rounds to).
 */
export function parseCpus(input: string | number): bigint {
  const value = requireScalar(input, 'cpus');
  const q = quote(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ValueError(`invalid cpus ${q}: ${HINT}`);
  // String(number) is the shortest text that reads back as the same double, so 0.1 stays "0.1".
  const text = typeof value === 'number' ? String(value) : value;

  const negative = text.startsWith('-');
  const match = DECIMAL.exec(negative ? text.slice(1) : text);
  const [, whole = '', fraction = '', exponent = '0'] = match ?? [];
  if (match === null || (whole === '' && fraction === '')) throw new ValueError(`invalid cpus ${q}: ${HINT}`);

  // Significant digits and the power of ten that scales them to nano-CPUs, trailing zeros folded into the power.
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return 0n;
  if (negative) throw new ValueError(`invalid cpus ${q}: the number of CPUs must not be negative`);
  const trimmed = digits.replace(/0+$/, '');
  // Clamp absurd exponents: they are either too large or too precise either way, and 10n ** 1e9n would hang.
  const exp = Math.max(-1000, Math.min(1000, Number.parseInt(exponent, 10)));
  const power = exp - fraction.length + NANO_DIGITS + (digits.length - trimmed.length);
  digits = trimmed;

  if (power < 0) {
    throw new ValueError(`invalid cpus ${q}: too precise, use at most ${NANO_DIGITS} decimal places (0.000000001)`);
  }
  if (digits.length + power > 19) throw tooLarge(q);
  const nano = BigInt(digits) * 10n ** BigInt(power);
  if (nano > INT64_MAX) throw tooLarge(q);
  return nano;
}

function tooLarge(q: string): ValueError {
  return new ValueError(`invalid cpus ${q}: too large, the maximum is ${formatCpus(INT64_MAX)}`);
}

/** The shortest decimal for a nano-CPU count: 500000000n is "0.5", 2000000000n is "2". */
export function formatCpus(nano: bigint): string {
  const sign = nano < 0n ? '-' : '';
  const n = nano < 0n ? -nano : nano;
  const base = 10n ** BigInt(NANO_DIGITS);
  const fraction = (n % base).toString().padStart(NANO_DIGITS, '0').replace(/0+$/, '');
  return fraction === '' ? `${sign}${n / base}` : `${sign}${n / base}.${fraction}`;
}
