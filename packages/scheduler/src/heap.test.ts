import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Heap } from './heap.js';

describe('Heap', () => {
  it('pops in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }), (values) => {
        const heap = new Heap([...values], (a, b) => a - b);
        const popped: number[] = [];
        for (let v = heap.pop(); v !== undefined; v = heap.pop()) popped.push(v);
        expect(popped).toEqual([...values].sort((a, b) => a - b));
        expect(heap.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps its order when the root key grows, as placement grows it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(20), { minLength: 1, maxLength: 50 }),
        fc.array(fc.nat(5), { maxLength: 100 }),
        (keys, bumps) => {
          const items = keys.map((key, id) => ({ key, id }));
          const heap = new Heap([...items], (a, b) => a.key - b.key || a.id - b.id);
          for (const bump of bumps) {
            const root = heap.peek();
            if (root === undefined) break;
            const least = Math.min(...items.map((i) => i.key));
            expect(root.key).toBe(least);
            root.key += bump;
            heap.rootChanged();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
