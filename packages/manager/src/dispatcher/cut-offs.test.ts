import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, CutOffs } from './cut-offs.js';

describe('nodes cut off for flooding', () => {
  it('refuses a node for the first wait, doubling with each cut-off soon after, capped; then forgets it', () => {
    let now = 0;
    const cutOffs = new CutOffs({ firstMs: 1_000, maxMs: 8_000, memoryMs: 60_000, now: () => now });
    expect(cutOffs.cut('n1', 'sent heartbeats over the limit of 4')).toBe(1_000);
    expect(cutOffs.refused('n1')).toEqual({ waitMs: 1_000, reason: 'sent heartbeats over the limit of 4' });
    expect(cutOffs.refused('n2')).toBeUndefined();
    now = 1_000;
    expect(cutOffs.refused('n1')).toBeUndefined();
    expect([cutOffs.cut('n1', 'x'), cutOffs.cut('n1', 'x'), cutOffs.cut('n1', 'x'), cutOffs.cut('n1', 'x')]).toEqual([
      2_000, 4_000, 8_000, 8_000,
    ]);
    now += 8_000 + 60_001;
    cutOffs.prune();
    expect(cutOffs.size).toBe(0);
    expect(cutOffs.cut('n1', 'x')).toBe(1_000);
    cutOffs.forget('n1');
    expect(cutOffs.size).toBe(0);
  });

  it('holds one record per node cut off lately, whatever the sequence of cut-offs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 100_000 })), { maxLength: 300 }),
        (events) => {
          let now = 0;
          const cutOffs = new CutOffs({ firstMs: 100, maxMs: 5_000, memoryMs: 50_000, now: () => now });
          for (const [node, wait] of events) {
            now += wait;
            const waitMs = cutOffs.cut(`n${node}`, 'x');
            expect(waitMs).toBeGreaterThanOrEqual(100);
            expect(waitMs).toBeLessThanOrEqual(5_000);
            cutOffs.prune();
            expect(cutOffs.size).toBeLessThanOrEqual(10);
          }
          now += 5_000 + 50_001;
          cutOffs.prune();
          expect(cutOffs.size).toBe(0);
        },
      ),
    );
  });

  it('a backoff never overflows', () => {
    expect(backoffMs(10_000, { firstMs: 1_000, maxMs: 60_000 })).toBe(60_000);
    expect(backoffMs(0, { firstMs: 1_000, maxMs: 60_000 })).toBe(1_000);
  });
});
