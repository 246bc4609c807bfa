import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('token bucket', () => {
  it('never lets through more than the burst plus the rate times the time elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1, max: 50 })), { maxLength: 200 }),
        (capacity, perSecond, steps) => {
          const bucket = new TokenBucket(capacity, 0);
          let now = 0;
          let taken = 0;
          for (const [wait, cost] of steps) {
            now += wait;
            if (bucket.take(cost, { capacity, perSecond }, now)) taken += cost;
            expect(bucket.left).toBeGreaterThanOrEqual(0);
            expect(bucket.left).toBeLessThanOrEqual(capacity);
          }
          expect(taken).toBeLessThanOrEqual(capacity + (now * perSecond) / 1000 + 1e-6);
        },
      ),
    );
  });

  it('lets a steady sender at the rate through, for ever', () => {
    const bucket = new TokenBucket(10, 0);
    for (let t = 0; t < 100_000; t += 100) expect(bucket.take(1, { capacity: 10, perSecond: 10 }, t)).toBe(true);
  });

  it('takes nothing when refused, and refills nothing when the clock goes back', () => {
    const bucket = new TokenBucket(5, 1_000);
    expect(bucket.take(6, { capacity: 5, perSecond: 1 }, 1_000)).toBe(false);
    expect(bucket.left).toBe(5);
    expect(bucket.take(5, { capacity: 5, perSecond: 1 }, 1_000)).toBe(true);
    expect(bucket.take(1, { capacity: 5, perSecond: 1 }, 0)).toBe(false);
    expect(bucket.take(1, { capacity: 5, perSecond: 1 }, 2_000)).toBe(true);
  });
});
