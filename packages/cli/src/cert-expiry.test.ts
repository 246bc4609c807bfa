import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCertExpiry, parseCertExpiry } from './cert-expiry.js';

const usage = (text: string): string => {
  try {
    parseCertExpiry(text);
    return 'accepted';
  } catch (err) {
    return err instanceof FlotillaError && err.reason === 'usage' ? err.message : `unexpected ${String(err)}`;
  }
};

describe('parseCertExpiry', () => {
  it('takes docker durations and days', () => {
    expect(parseCertExpiry('90d')).toBe(90n * 86_400_000n);
    expect(parseCertExpiry('2160h')).toBe(90n * 86_400_000n);
    expect(parseCertExpiry('1m')).toBe(60_000n);
    expect(parseCertExpiry('1h30m')).toBe(5_400_000n);
    expect(parseCertExpiry('1d12h')).toBe(36n * 3_600_000n);
    expect(parseCertExpiry(' 60s ')).toBe(60_000n);
  });

  it('refuses less than a minute, saying the minimum', () => {
    expect(usage('59s')).toMatch(/too short: give at least 1m/);
    expect(usage('0')).toMatch(/too short/);
    expect(usage('0d')).toMatch(/too short/);
  });

  it('refuses what is not a duration, with an example', () => {
    expect(usage('ninety days')).toMatch(/not a duration such as 90d/);
    expect(usage('90')).toMatch(/not a duration/);
    expect(usage('-5m')).toMatch(/not a duration|too short/);
    expect(usage('3dx')).toMatch(/not a duration/);
  });
});

describe('formatCertExpiry', () => {
  it('says a life in its largest whole unit', () => {
    expect(formatCertExpiry(90 * 86_400_000)).toBe('90d');
    expect(formatCertExpiry(36 * 3_600_000)).toBe('36h');
    expect(formatCertExpiry(60_000)).toBe('1m');
    expect(formatCertExpiry(90_000)).toBe('90s');
  });
});
