import { SessionRequest, TaskState } from '@flotilla/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { floodReason, SESSION_LIMITS, SessionBudget, statusBudget } from './session-budget.js';

const PERIOD = 1_000;
const heartbeat = SessionRequest.fromPartial({ heartbeat: { sentAtMs: 1n } });
const status = (n: number) =>
  SessionRequest.fromPartial({
    status: {
      updates: Array.from({ length: n }, (_, i) => ({
        taskId: `t${i}`,
        status: { state: TaskState.TASK_STATE_RUNNING },
      })),
    },
  });

describe('what a node may send on its session', () => {
  it('a well-behaved agent stays inside the budget: a beat per period, a batch per 50 ms, its tasks resent at once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), (tasks) => {
        const budget = new SessionBudget(SESSION_LIMITS, PERIOD, 0);
        const capabilities = SessionRequest.fromPartial({ capabilities: { overlay: true, probePort: 1 } });
        expect(budget.check(capabilities, tasks, 0)).toBeUndefined();
        expect(budget.check(status(tasks), tasks, 0)).toBeUndefined();
        for (let t = 50; t <= 60_000; t += 50) {
          if (t % PERIOD === 0) expect(budget.check(heartbeat, tasks, t)).toBeUndefined();
          // Every task's status changes each second (health, progress): far more than agents report.
          if (t % 1_000 === 0) expect(budget.check(status(tasks), tasks, t)).toBeUndefined();
        }
      }),
      { numRuns: 20 },
    );
  });

  it('names what a flood exceeded and the limit', () => {
    const cases: [string, (b: SessionBudget) => string | undefined][] = [
      ['heartbeats', (b) => first(b, () => heartbeat, 0)],
      ['status updates', (b) => first(b, () => status(100), 10)],
      ['a status batch of 100000 updates', (b) => first(b, () => status(100_000), 10)],
      ['capabilities and descriptions', (b) => first(b, () => SessionRequest.fromPartial({ description: {} }), 0)],
      ['messages', (b) => first(b, () => SessionRequest.fromPartial({ goodbye: {} }), 0)],
    ];
    for (const [exceeded, flood] of cases) {
      const reason = flood(new SessionBudget(SESSION_LIMITS, PERIOD, 0));
      expect(reason).toMatch(new RegExp(`^sent ${exceeded} over the limit of \\S`));
    }
  });

  it('a status budget grows with the node’s tasks, and a batch may hold every task twice', () => {
    fc.assert(
      fc.property(fc.nat(100_000), (tasks) => {
        const b = statusBudget(SESSION_LIMITS, tasks);
        expect(b.capacity).toBeGreaterThanOrEqual(2 * tasks);
        expect(statusBudget(SESSION_LIMITS, tasks + 1).perSecond).toBeGreaterThan(b.perSecond);
      }),
    );
  });
});

/** Sends the same message 1 ms apart until the budget refuses it (within 100,000 messages). */
function first(budget: SessionBudget, message: () => SessionRequest, tasks: number): string | undefined {
  for (let t = 0; t < 100_000; t++) {
    const flood = budget.check(message(), tasks, t);
    if (flood) return floodReason(flood);
  }
  return undefined;
}
