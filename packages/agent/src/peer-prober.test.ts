import type { Voter } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { PeerProber } from './peer-prober.js';

const voter = (id: string, probeAddress = `${id}:1`, manager = false): Voter => ({ id, probeAddress, manager });

/** A prober on a fake clock whose peers answer as the test says (throwing: no answer in time). */
function setup(answers: Record<string, boolean | 'silent'>, options: { sample?: number } = {}) {
  const clock = { now: 0 };
  const called: string[] = [];
  const prober = new PeerProber({
    selfId: 'self',
    now: () => clock.now,
    ...(options.sample ? { sample: options.sample } : {}),
    call: async (address) => {
      called.push(address);
      const answer = answers[address];
      if (answer === undefined || answer === 'silent') throw new Error('deadline exceeded');
      return { hearsLeader: answer, silentMs: 0, leaderHeardForMs: answer ? 5_000 : 0 };
    },
  });
  return { clock, called, prober };
}

describe('probing the voters', () => {
  it('probes every peer but itself; no address, or no answer, is not reachable', async () => {
    const { called, prober } = setup({ 'a:1': true, 'b:1': false, 'c:1': 'silent' });
    prober.setVoters([voter('self'), voter('a'), voter('b'), voter('c'), voter('m', '', true)]);
    expect(prober.voterCount()).toBe(5);
    await prober.round();
    expect(called.sort()).toEqual(['a:1', 'b:1', 'c:1']);
    expect(prober.probesSent).toBe(3);
    const fresh = prober.fresh();
    expect(fresh).toHaveLength(4);
    expect(fresh.filter((p) => p.reachable)).toEqual(
      expect.arrayContaining([
        { reachable: true, hearsLeader: true, leaderForMs: 5_000 },
        { reachable: true, hearsLeader: false },
      ]),
    );
    expect(fresh.filter((p) => p.reachable)).toHaveLength(2);
  });

  it('keeps the freshest answer per voter, and forgets answers 3 s old', async () => {
    const answers: Record<string, boolean> = { 'a:1': true };
    const { clock, prober } = setup(answers);
    prober.setVoters([voter('self'), voter('a')]);
    await prober.round();
    clock.now = 1_000;
    answers['a:1'] = false;
    await prober.round();
    expect(prober.fresh()).toEqual([{ reachable: true, hearsLeader: false }]);
    clock.now = 3_999;
    expect(prober.fresh()).toHaveLength(1);
    clock.now = 4_000;
    expect(prober.fresh()).toEqual([]);
  });

  it('samples at most the given number of peers per round', async () => {
    const peers = Array.from({ length: 100 }, (_, i) => voter(`n${i}`));
    const { called, prober } = setup(Object.fromEntries(peers.map((p) => [p.probeAddress, false])), { sample: 24 });
    prober.setVoters([voter('self'), ...peers]);
    await prober.round();
    expect(called).toHaveLength(24);
    expect(new Set(called).size).toBe(24);
    expect(prober.fresh()).toHaveLength(24);
    await prober.round();
    // Answers of several rounds add up (each within its freshness), one per distinct voter.
    expect(prober.fresh().length).toBeGreaterThan(24);
    expect(prober.fresh().length).toBeLessThanOrEqual(48);
  });

  it('counts itself a voter even when the list leaves it out; none known is 0', () => {
    const { prober } = setup({});
    expect(prober.voterCount()).toBe(0);
    prober.setVoters([voter('a'), voter('b'), voter('a')]);
    expect(prober.voterCount()).toBe(3);
  });

  it('drops the answers of voters that left, and forgets all on contact', async () => {
    const { prober } = setup({ 'a:1': false, 'b:1': false });
    prober.setVoters([voter('self'), voter('a'), voter('b')]);
    await prober.round();
    expect(prober.fresh()).toHaveLength(2);
    prober.setVoters([voter('self'), voter('a')]);
    expect(prober.fresh()).toHaveLength(1);
    prober.forget();
    expect(prober.fresh()).toEqual([]);
  });

  it('a node peer that lost the leader about when this node did is no proof of a leader; a manager is', async () => {
    const clock = { now: 10_000 };
    const prober = new PeerProber({
      selfId: 'self',
      now: () => clock.now,
      call: async (address) => {
        // b lost the leader 1 s after this node (a paused manager); c heard it 300 ms ago (still in touch).
        if (address === 'b:1') return { hearsLeader: true, silentMs: 1_000, leaderHeardForMs: 60_000 };
        if (address === 'c:1') return { hearsLeader: true, silentMs: 300, leaderHeardForMs: 60_000 };
        return { hearsLeader: true, silentMs: 0, leaderHeardForMs: 60_000 };
      },
    });
    prober.setVoters([voter('self'), voter('b'), voter('c'), voter('m', 'm:1', true)]);
    await prober.round();
    const hearing = (own: number) =>
      prober.fresh({ silentForMs: own, periodMs: 1_000 }).filter((p) => p.hearsLeader).length;
    // This node silent 2 s: b (1 s) is within 1.25 periods of it, c (0.3 s) is not, the manager always counts.
    expect(hearing(2_000)).toBe(2);
    // Silent 1.5 s: only the manager's answer proves a leader.
    expect(hearing(1_500)).toBe(1);
    expect(prober.fresh().filter((p) => p.hearsLeader)).toHaveLength(3);
  });

  it('says how long, by now, a peer has heard its leader, and calls back after a round in which one was heard', async () => {
    const answers: Record<string, boolean> = { 'a:1': false };
    const clock = { now: 0 };
    let heard = 0;
    const watching = new PeerProber({
      selfId: 'self',
      now: () => clock.now,
      call: async (address) => ({ hearsLeader: answers[address] ?? false, silentMs: 0, leaderHeardForMs: 700 }),
      onLeaderHeard: () => heard++,
    });
    watching.setVoters([voter('self'), voter('a')]);
    await watching.round();
    expect(heard).toBe(0);
    answers['a:1'] = true;
    await watching.round();
    expect(heard).toBe(1);
    clock.now = 300;
    expect(watching.fresh()).toEqual([{ reachable: true, hearsLeader: true, leaderForMs: 1_000 }]);
  });

  it('does not overlap rounds', async () => {
    let release: () => void = () => undefined;
    const calls: string[] = [];
    const prober = new PeerProber({
      selfId: 'self',
      call: (address) => {
        calls.push(address);
        return new Promise<{ hearsLeader: boolean; silentMs: number; leaderHeardForMs: number }>((resolve) => {
          release = () => resolve({ hearsLeader: false, silentMs: 0, leaderHeardForMs: 0 });
        });
      },
    });
    prober.setVoters([voter('self'), voter('a')]);
    const first = prober.round();
    await prober.round();
    expect(calls).toEqual(['a:1']);
    release();
    await first;
    expect(prober.fresh()).toHaveLength(1);
  });
});
