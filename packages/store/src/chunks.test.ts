import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunk, MAX_TXN_OPS } from './chunks.js';

describe('chunk', () => {
  it('keeps every item, in order, within the op and byte limits', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(5000), { maxLength: 2000 }), (sizes) => {
        const parts = chunk(sizes, (n) => n, 127, 100_000);
        expect(parts.flat()).toEqual(sizes);
        for (const part of parts) {
          expect(part.length).toBeLessThanOrEqual(127);
          expect(part.length).toBeGreaterThan(0);
          if (part.length > 1) expect(part.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100_000);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('leaves one slot for the fence compare by default', () => {
    const parts = chunk(
      Array.from({ length: 1000 }, (_, i) => i),
      () => 10,
    );
    expect(parts.map((p) => p.length)).toEqual([...Array(7).fill(MAX_TXN_OPS - 1), 1000 - 7 * (MAX_TXN_OPS - 1)]);
  });

  it('gives an oversized item a chunk of its own', () => {
    expect(chunk([1, 500, 1], (n) => n, 10, 100)).toEqual([[1], [500], [1]]);
  });
});
