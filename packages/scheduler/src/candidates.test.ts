import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Candidates } from './candidates.js';
import { Heap } from './heap.js';
import { NodeState } from './node-state.js';
import { binpackOrder, spreadOrder } from './scoring.js';

/** Steps of a group's placement: take a task on the best node, or drop it as failing a dynamic filter. */
const stepArb = fc.array(fc.constantFrom('take' as const, 'drop' as const), { maxLength: 60 });

describe('Candidates', () => {
  it('offers the same nodes, in the same order, as a heap of every node', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ svc: fc.nat(3), tasks: fc.nat(5), pack: fc.nat(4) }), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 12 }),
        stepArb,
        fc.boolean(),
        (specs, tasks, steps, binpack) => {
          const order = binpack ? binpackOrder : spreadOrder;
          const nodes = specs.map((spec, i) => Object.assign(new NodeState(`n${i}`), spec, { rank: i }));
          const reference = new Heap([...nodes], order);
          const candidates = new Candidates([...nodes], order, tasks);
          let taken = 0;
          for (const step of steps) {
            const best = reference.peek();
            expect(candidates.peek()).toBe(best);
            if (best === undefined) break;
            // A group never places more tasks than it has.
            if (step === 'take' && taken < tasks) {
              taken++;
              best.svc++;
              best.tasks++;
              best.pack += 0.5;
              reference.rootChanged();
              candidates.rootChanged();
            } else {
              reference.pop();
              candidates.pop();
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
