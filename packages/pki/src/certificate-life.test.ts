import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pastHalfLife, renewalTime } from './certificate-life.js';

describe('renewalTime', () => {
  it('falls between 50 % and 80 % of the life, whatever the random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 60_000, max: 400 * 86_400_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (start, span, draw) => {
          const at = renewalTime({ notBeforeMs: start, notAfterMs: start + span }, () => draw);
          expect(at).toBeGreaterThanOrEqual(start + span * 0.5 - 1);
          expect(at).toBeLessThanOrEqual(start + span * 0.8 + 1);
        },
      ),
    );
  });

  it('reaches both ends and spreads between them', () => {
    const life = { notBeforeMs: 1_000, notAfterMs: 101_000 };
    expect(renewalTime(life, () => 0)).toBe(51_000);
    expect(renewalTime(life, () => 1)).toBe(81_000);
    const times = Array.from({ length: 200 }, () => renewalTime(life));
    expect(Math.min(...times)).toBeLessThan(57_000);
    expect(Math.max(...times)).toBeGreaterThan(75_000);
  });

  it('keeps a draw out of range inside the window', () => {
    const life = { notBeforeMs: 0, notAfterMs: 100 };
    expect(renewalTime(life, () => -3)).toBe(50);
    expect(renewalTime(life, () => 7)).toBe(80);
  });
});

describe('pastHalfLife', () => {
  it('says so from the middle of the life on', () => {
    const life = { notBeforeMs: 0, notAfterMs: 100 };
    expect(pastHalfLife(life, 49)).toBe(false);
    expect(pastHalfLife(life, 50)).toBe(true);
    expect(pastHalfLife(life, 200)).toBe(true);
  });
});
