import { FlotillaError } from '@flotilla/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedBuffer } from './bounded-buffer.js';

describe('BoundedBuffer', () => {
  it('keeps items in order within its bound', () => {
    const b = new BoundedBuffer<number>(3);
    for (const n of [1, 2, 3]) expect(b.push(n)).toBe(0);
    expect(b.length).toBe(3);
    expect(b.dropped).toBe(0);
    expect(b.take(10)).toEqual([1, 2, 3]);
    expect(b.length).toBe(0);
  });

  it('drops the oldest past its bound and counts every drop', () => {
    const b = new BoundedBuffer<number>(3);
    const dropped = [1, 2, 3, 4, 5, 6, 7].map((n) => b.push(n));
    expect(dropped).toEqual([0, 0, 0, 1, 1, 1, 1]);
    expect(b.dropped).toBe(4);
    expect(b.length).toBe(3);
    expect(b.drain()).toEqual([5, 6, 7]);
    expect(b.dropped).toBe(4);
  });

  it('takes batches oldest first across the wrap of its ring', () => {
    const b = new BoundedBuffer<number>(4);
    for (let n = 1; n <= 6; n++) b.push(n);
    expect(b.take(3)).toEqual([3, 4, 5]);
    b.push(7);
    b.push(8);
    expect(b.take(2)).toEqual([6, 7]);
    expect(b.drain()).toEqual([8]);
  });

  it('puts an unwritten batch back in front, in order', () => {
    const b = new BoundedBuffer<number>(5);
    for (let n = 1; n <= 4; n++) b.push(n);
    const batch = b.take(2);
    b.push(5);
    expect(b.putBack(batch)).toBe(0);
    expect(b.drain()).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops the oldest of a returned batch when newer items filled the room meanwhile', () => {
    const b = new BoundedBuffer<number>(4);
    for (let n = 1; n <= 4; n++) b.push(n);
    const batch = b.take(3); // 1, 2, 3 in flight
    for (let n = 5; n <= 7; n++) b.push(n); // 4, 5, 6, 7: full again
    expect(b.putBack(batch)).toBe(3);
    expect(b.dropped).toBe(3);
    expect(b.drain()).toEqual([4, 5, 6, 7]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new BoundedBuffer(bad)).toThrow(FlotillaError);
    }
  });

  it('matches a plain array model under any sequence of push, take and put back', () => {
    type Op = { op: 'push' } | { op: 'take'; n: number } | { op: 'putBack' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant({ op: 'push' as const }),
      fc.record({ op: fc.constant('take' as const), n: fc.integer({ min: 0, max: 6 }) }),
      fc.constant({ op: 'putBack' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const b = new BoundedBuffer<number>(capacity);
        let model: number[] = [];
        let modelDropped = 0;
        let next = 0;
        let taken: number[] = [];
        for (const o of ops) {
          if (o.op === 'push') {
            b.push(next);
            model.push(next++);
            if (model.length > capacity) {
              model.shift();
              modelDropped++;
            }
          } else if (o.op === 'take') {
            taken = b.take(o.n);
            expect(taken).toEqual(model.slice(0, o.n));
            model = model.slice(o.n);
          } else {
            b.putBack(taken);
            const all = [...taken, ...model];
            const over = Math.max(0, all.length - capacity);
            modelDropped += over;
            model = all.slice(over);
            taken = [];
          }
          expect(b.length).toBe(model.length);
          expect(b.dropped).toBe(modelDropped);
        }
        expect(b.drain()).toEqual(model);
      }),
    );
  });
});
