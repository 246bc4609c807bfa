import { describe, expect, it } from 'vitest';
import { leaderAttempt, nextAttempt } from './session-attempts.js';

const managers = ['a:1', 'b:1', 'c:1'];
const stalled = (address: string, ageMs = 1_500) => ({ address, ageMs, transportUp: false });

describe('nextAttempt', () => {
  it('waits for an attempt younger than the grace', () => {
    expect(nextAttempt({ attempts: [stalled('a:1', 999)], managers, next: 1, graceMs: 1_000 })).toBeUndefined();
  });

  it('tries the next manager beside an attempt that has had no connection for the grace', () => {
    expect(nextAttempt({ attempts: [stalled('a:1', 1_000)], managers, next: 1, graceMs: 1_000 })).toEqual({
      address: 'b:1',
      next: 2,
    });
  });

  it('never gives up on, or adds to, an attempt whose connection is up (a slow leader is waited for)', () => {
    const slow = { address: 'a:1', ageMs: 30_000, transportUp: true };
    expect(nextAttempt({ attempts: [slow, stalled('b:1')], managers, next: 2, graceMs: 1_000 })).toBeUndefined();
  });

  it('waits for the latest attempt to be past the grace too: at most one more per grace', () => {
    expect(
      nextAttempt({ attempts: [stalled('a:1', 5_000), stalled('b:1', 200)], managers, next: 2, graceMs: 1_000 }),
    ).toBeUndefined();
  });

  it('skips managers being tried already, wrapping round the rotation', () => {
    expect(nextAttempt({ attempts: [stalled('c:1'), stalled('a:1')], managers, next: 2, graceMs: 1_000 })).toEqual({
      address: 'b:1',
      next: 2,
    });
  });

  it('adds nothing when every manager is being tried, or none is known', () => {
    const all = managers.map((m) => stalled(m));
    expect(nextAttempt({ attempts: all, managers, next: 0, graceMs: 1_000 })).toBeUndefined();
    expect(nextAttempt({ attempts: [stalled('a:1')], managers: [], next: 0, graceMs: 1_000 })).toBeUndefined();
  });

  it('a single manager is never tried twice at once (the only manager paused is waited for as before)', () => {
    expect(nextAttempt({ attempts: [stalled('a:1', 20_000)], managers: ['a:1'], next: 1, graceMs: 1_000 })).toBe(
      undefined,
    );
  });
});

describe('leaderAttempt', () => {
  it('follows the leader a refusal names', () => {
    expect(leaderAttempt('c:1', 'b:1', [stalled('a:1')])).toBe('c:1');
  });

  it('not when the refusing manager names itself, names none, or the leader is being tried already', () => {
    expect(leaderAttempt('b:1', 'b:1', [])).toBeUndefined();
    expect(leaderAttempt('', 'b:1', [])).toBeUndefined();
    expect(leaderAttempt(undefined, 'b:1', [])).toBeUndefined();
    // A follower that still names the old leader (its lease not yet out) does not start a second attempt there.
    expect(leaderAttempt('a:1', 'b:1', [stalled('a:1')])).toBeUndefined();
  });
});
