import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fenceAfterMs,
  leaderMayReplace,
  MIN_SAMPLE,
  nodeQuorum,
  type PeerProbe,
  probeResponse,
  probeSample,
} from './quorum.js';

const up = (hearsLeader = false): PeerProbe => ({ reachable: true, hearsLeader });
const down: PeerProbe = { reachable: false, hearsLeader: false };
const times = (n: number, p: PeerProbe) => Array.from({ length: n }, () => p);

describe('the quorum rule', () => {
  it('the only manager paused: every node reaches the other nodes, none hears a leader, so all carry on', () => {
    // 3 nodes + 1 manager; each node reaches 2 nodes, not the manager.
    expect(nodeQuorum({ voters: 4, probes: [up(), up(), down] }).verdict).toBe('carry-on');
  });

  it('every manager down: the nodes are the half that remains, and carry on', () => {
    // 3 nodes + 3 managers: 3 of 6 is half; the managers can never be a strict majority without a node.
    expect(nodeQuorum({ voters: 6, probes: [up(), up(), down, down, down] }).verdict).toBe('carry-on');
  });

  it('a node whose link is cut reaches nobody: it fences, and the leader, hearing the rest, replaces', () => {
    expect(nodeQuorum({ voters: 4, probes: [down, down, down] }).verdict).toBe('cut-off');
    expect(leaderMayReplace({ voters: 4, heard: 3 }).replace).toBe(true);
  });

  it('a node that reaches a peer still in session with a leader is the one cut off', () => {
    const v = nodeQuorum({ voters: 6, probes: [up(true), up(), up(), up(), up()] });
    expect(v).toMatchObject({ verdict: 'cut-off' });
    expect(v.reason).toContain('1 peer hears a leader');
    expect(v).not.toHaveProperty('leaderForMs');
  });

  it('says how long the leader those peers hear has been heard: the longest any says, if all say', () => {
    const since = (ms?: number): PeerProbe => ({
      reachable: true,
      hearsLeader: true,
      ...(ms ? { leaderForMs: ms } : {}),
    });
    const v = nodeQuorum({ voters: 4, probes: [since(800), since(1_500), up()] });
    expect(v).toMatchObject({ verdict: 'cut-off', leaderForMs: 1_500 });
    expect(v.reason).toContain('2 peers hear a leader');
    // A peer that does not say (an older agent): the node counts from its own silence, as before.
    expect(nodeQuorum({ voters: 4, probes: [since(800), since()] })).not.toHaveProperty('leaderForMs');
  });

  it('5 nodes split 3 + 2 with one manager: the leader replaces only on the majority side', () => {
    // Leader with the 3: it hears 4 of 6 and replaces; each of the 2 reaches 2 of 6 and fences.
    expect(leaderMayReplace({ voters: 6, heard: 4 }).replace).toBe(true);
    expect(nodeQuorum({ voters: 6, probes: [up(), down, down, down, down] }).verdict).toBe('cut-off');
    // Leader with the 2: it hears 3 of 6 and waits (nodes unknown); the 3 reach 3 of 6 and carry on.
    expect(leaderMayReplace({ voters: 6, heard: 3 })).toMatchObject({ replace: false });
    expect(nodeQuorum({ voters: 6, probes: [up(), up(), down, down, down] }).verdict).toBe('carry-on');
  });

  it('decides before every answer is in when those in already make half (the rest can only add)', () => {
    // 3 nodes + a paused manager whose probe has not timed out yet: 2 peers answered, 1 is pending.
    expect(nodeQuorum({ voters: 4, probes: [up(), up()] }).verdict).toBe('carry-on');
    expect(nodeQuorum({ voters: 6, probes: [up(), down] }).verdict).toBe('cut-off');
  });

  it('never lets a lost node carry on while the leader replaces it (every split, full probing)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }).chain((n) =>
          fc.record({
            n: fc.constant(n),
            // Who the leader hears (voter 0 is the leader), and who the lost node (voter n-1) reaches.
            heard: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            reached: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          }),
        ),
        ({ n, heard, reached }) => {
          const leader = 0;
          const lost = n - 1;
          const inH = (v: number) => v === leader || (v !== lost && heard[v] === true);
          const heardCount = Array.from({ length: n }, (_, v) => v).filter(inH).length;
          // Every voter the leader hears is in a session with it, so answers that it hears a leader.
          const probes = Array.from({ length: n }, (_, v) => v)
            .filter((v) => v !== lost)
            .map((v): PeerProbe => (reached[v] ? up(inH(v)) : down));
          const replace = leaderMayReplace({ voters: n, heard: heardCount }).replace;
          const carryOn = nodeQuorum({ voters: n, probes }).verdict === 'carry-on';
          expect(replace && carryOn).toBe(false);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('in a large cluster, a sample decides only when it clearly shows half or more', () => {
    const voters = 1_000;
    expect(nodeQuorum({ voters, probes: times(MIN_SAMPLE - 1, up()) })).toMatchObject({ verdict: 'cut-off' });
    expect(nodeQuorum({ voters, probes: times(64, up()) }).verdict).toBe('carry-on');
    // 36 of 64 answered (56 %): within two sigma of a minority, so the node does not risk it.
    const mixed = [...times(36, up()), ...times(28, down)];
    expect(nodeQuorum({ voters, probes: mixed }).verdict).toBe('cut-off');
    const most = [...times(56, up()), ...times(8, down)];
    expect(nodeQuorum({ voters, probes: most })).toMatchObject({ verdict: 'carry-on' });
    expect(nodeQuorum({ voters, probes: most }).reason).toContain('sampled');
  });

  it('a service may keep its tasks longer, always, or ask not to be replaced', () => {
    expect(fenceAfterMs(undefined, 2_000)).toBe(2_000);
    expect(fenceAfterMs({ stopAfterMs: 30_000 }, 2_000)).toBe(30_000);
    expect(fenceAfterMs({ neverStop: true }, 2_000)).toBeUndefined();
    expect(fenceAfterMs({ replace: false }, 2_000)).toBeUndefined();
  });

  it('samples distinct peers, at most as many as asked', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const peers = Array.from({ length: 100 }, (_, i) => i);
    const sample = probeSample(peers, 24, random);
    expect(sample).toHaveLength(24);
    expect(new Set(sample).size).toBe(24);
    expect(probeSample([1, 2], 24, random).sort()).toEqual([1, 2]);
  });
});

describe('a probe answer on the wire', () => {
  it('is in whole milliseconds; the leader heard for at least 1 ms while one is, 0 when none is', () => {
    expect(probeResponse({ hearsLeader: true, silentMs: 12.6, leaderHeardForMs: 0.2 })).toEqual({
      hearsLeader: true,
      silentMs: 13n,
      leaderHeardForMs: 1n,
    });
    expect(probeResponse({ hearsLeader: false, silentMs: -3, leaderHeardForMs: 5_000 })).toEqual({
      hearsLeader: false,
      silentMs: 0n,
      leaderHeardForMs: 0n,
    });
  });
});
