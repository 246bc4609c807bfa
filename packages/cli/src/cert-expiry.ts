import { parseDuration } from '@flotilla/stack';
import { usageError } from './exit-codes.js';

const DAY_MS = 86_400_000;
const MIN_MS = 60_000;

/**
 * `--cert-expiry`: a duration as docker takes it (2160h, 90m, 1h30m), or in days (90d, 1d12h). At least one
 * minute: certificates renew at 50-80 % of their life, and less leaves no time for a renewal to go through.
 */
export function parseCertExpiry(text: string): bigint {
  const input = text.trim();
  const days = /^(\d+)d(.*)$/.exec(input);
  let ms: bigint;
  try {
    const rest = days?.[2] ? parseDuration(days[2]) / 1_000_000n : 0n;
    ms = days ? BigInt(days[1] as string) * BigInt(DAY_MS) + rest : parseDuration(input) / 1_000_000n;
  } catch {
    throw usageError(`--cert-expiry: "${text}" is not a duration such as 90d, 2160h or 10m`);
  }
  if (ms < BigInt(MIN_MS)) {
    throw usageError(
      `--cert-expiry: "${text}" is too short: give at least 1m (certificates renew at 50-80 % of their life)`,
    );
  }
  return ms;
}

/** A certificate life as people read it: 90d, 36h, 10m, 45s. */
export function formatCertExpiry(ms: number): string {
  for (const [unit, size] of [
    ['d', DAY_MS],
    ['h', 3_600_000],
    ['m', MIN_MS],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
