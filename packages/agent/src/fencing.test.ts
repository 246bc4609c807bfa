import type { PeerProbe } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import {
  disconnectPolicy,
  type FenceInput,
  type FenceTask,
  fenceDecision,
  hearsNoLeader,
  NodeFence,
} from './fencing.js';

const up = (hearsLeader = false): PeerProbe => ({ reachable: true, hearsLeader });
const down: PeerProbe = { reachable: false, hearsLeader: false };
const TIMEOUT = 2_000;
const tasks: FenceTask[] = [
  { id: 'plain' },
  { id: 'patient', disconnect: { stopAfterMs: 10_000 } },
  { id: 'never', disconnect: { neverStop: true } },
  { id: 'stateful', disconnect: { replace: false } },
];
const input = (over: Partial<FenceInput>): FenceInput => ({
  silentForMs: 0,
  selfFenceTimeoutMs: TIMEOUT,
  voters: 4,
  probes: [],
  tasks,
  ...over,
});

describe('the fencing rule', () => {
  it('does nothing while a manager was heard within the timeout, or self-fencing is off', () => {
    expect(fenceDecision(input({ silentForMs: TIMEOUT }))).toMatchObject({ verdict: 'in-touch', stop: [] });
    expect(fenceDecision(input({ silentForMs: 60_000, selfFenceTimeoutMs: 0 }))).toMatchObject({
      verdict: 'in-touch',
      stop: [],
    });
  });

  it('a manager that answers a probe and hears a leader is contact: nothing stops while the session comes back', () => {
    const d = fenceDecision(input({ silentForMs: 30_000, probes: [up(true), down, down], managersAnswering: 1 }));
    expect(d).toMatchObject({ verdict: 'in-touch', stop: [] });
  });

  it('waits up to a second past the timeout for the first probe answers, then decides on what it has', () => {
    expect(fenceDecision(input({ silentForMs: TIMEOUT + 500 }))).toMatchObject({ verdict: 'carry-on', stop: [] });
    expect(fenceDecision(input({ silentForMs: TIMEOUT + 1_001 })).verdict).toBe('cut-off');
  });

  it('with no voters known, stops every task at the timeout, whatever its policy (as before the rule)', () => {
    const d = fenceDecision(input({ silentForMs: TIMEOUT + 1, voters: 0 }));
    expect(d.verdict).toBe('cut-off');
    expect(d.stop).toEqual(['plain', 'patient', 'never', 'stateful']);
    expect(d.reason).toContain('no voters');
  });

  it('carries on (stops nothing) when half the voters are reached and none hears a leader', () => {
    // 3 nodes + 1 manager, the manager paused: this node reaches the 2 other nodes.
    const d = fenceDecision(input({ silentForMs: 60_000, probes: [up(), up(), down] }));
    expect(d).toMatchObject({ verdict: 'carry-on', stop: [] });
    expect(d.reason).toContain('control plane is away');
  });

  it('cut off: stops each task once its own time has passed; tasks that never stop run on', () => {
    const alone = [down, down, down];
    const at = (silentForMs: number) => fenceDecision(input({ silentForMs, probes: alone }));
    expect(at(TIMEOUT + 1)).toMatchObject({ verdict: 'cut-off', stop: ['plain'] });
    expect(at(9_999).stop).toEqual(['plain']);
    expect(at(10_000).stop).toEqual(['plain', 'patient']);
    expect(at(3_600_000).stop).toEqual(['plain', 'patient']);
  });

  it('a peer that still hears a leader means this node is the one cut off', () => {
    const d = fenceDecision(input({ silentForMs: TIMEOUT + 1, probes: [up(true), up(), up()] }));
    expect(d).toMatchObject({ verdict: 'cut-off', stop: ['plain'] });
    expect(d.reason).toContain('hears a leader');
  });

  it('after an outage, counts the time cut off from when the new leader was first heard, not from its silence', () => {
    // The only manager was away a minute and is back: one peer found it 500 ms ago, this node is still reconnecting.
    const found = (ms: number): PeerProbe => ({ reachable: true, hearsLeader: true, leaderForMs: ms });
    const at = (ms: number) => fenceDecision(input({ silentForMs: 60_000, probes: [found(ms), up(), down] }));
    expect(at(500)).toMatchObject({ verdict: 'cut-off', stop: [] });
    expect(at(TIMEOUT - 1).stop).toEqual([]);
    expect(at(TIMEOUT).stop).toEqual(['plain']);
    // A leader heard for longer than this node has been silent: its silence is the time cut off (as before).
    const cut = fenceDecision(input({ silentForMs: TIMEOUT + 1, probes: [found(3_600_000), down, down] }));
    expect(cut.stop).toEqual(['plain']);
  });

  it('with still no answers a second past the timeout, a node is cut off (it cannot show it is not alone)', () => {
    expect(fenceDecision(input({ silentForMs: TIMEOUT + 1_001, probes: [] })).verdict).toBe('cut-off');
  });

  it('reads a task’s wire policy: 0 ms is the cluster timeout, never and replace carried over', () => {
    expect(disconnectPolicy(undefined)).toBeUndefined();
    expect(disconnectPolicy({ stopAfterMs: 0n, neverStop: false })).toEqual({});
    expect(disconnectPolicy({ stopAfterMs: 5_000n, neverStop: false, replace: true })).toEqual({
      stopAfterMs: 5_000,
      replace: true,
    });
    expect(disconnectPolicy({ stopAfterMs: 0n, neverStop: true, replace: false })).toEqual({
      neverStop: true,
      replace: false,
    });
  });
});

describe('when a node starts to probe', () => {
  const silence = { connected: true, heartbeatPeriodMs: 1_000, selfFenceTimeoutMs: 2_000 };

  it('at once when its stream is down; never while fencing is off', () => {
    expect(hearsNoLeader({ ...silence, connected: false, silentForMs: 0 })).toBe(true);
    expect(hearsNoLeader({ ...silence, connected: false, silentForMs: 60_000, selfFenceTimeoutMs: 0 })).toBe(false);
  });

  it('a probe round before the self-fence timeout, and no later than two heartbeat periods', () => {
    expect(hearsNoLeader({ ...silence, silentForMs: 1_400 })).toBe(false);
    expect(hearsNoLeader({ ...silence, silentForMs: 1_501 })).toBe(true);
    const long = { ...silence, selfFenceTimeoutMs: 2_900, heartbeatPeriodMs: 1_000 };
    expect(hearsNoLeader({ ...long, silentForMs: 2_001 })).toBe(true);
    // Never within one heartbeat period: an answer may simply be on its way.
    const short = { ...silence, heartbeatPeriodMs: 100, selfFenceTimeoutMs: 250 };
    expect(hearsNoLeader({ ...short, silentForMs: 100 })).toBe(false);
    expect(hearsNoLeader({ ...short, silentForMs: 101 })).toBe(true);
  });
});

describe('fencing over time (fake clock, fake probes)', () => {
  function setup() {
    const clock = { now: 0, lastContact: 0 };
    const probes: { list: PeerProbe[]; voters?: number } = { list: [] };
    const stopped: string[][] = [];
    const logged: string[] = [];
    const log = (msg: string) => logged.push(msg);
    const fence = new NodeFence({
      silence: () => ({ silentForMs: clock.now - clock.lastContact, selfFenceTimeoutMs: TIMEOUT }),
      quorum: () => ({ voters: probes.voters ?? 4, probes: probes.list }),
      tasks: () => tasks,
      stop: (ids) => stopped.push(ids),
      logger: { info: log, warn: (_o: unknown, msg: string) => log(msg) } as never,
      now: () => clock.now,
    });
    return { clock, probes, stopped, logged, fence };
  }

  it('carries on while the control plane is away, logging it once; fences when later found cut off', () => {
    const { clock, probes, stopped, logged, fence } = setup();
    probes.list = [up(), up(), down];
    for (clock.now = 0; clock.now <= 8_000; clock.now += 100) fence.tick();
    expect(fence.verdict).toBe('carry-on');
    expect(stopped).toEqual([]);
    expect(logged.filter((m) => m.includes('carries on'))).toHaveLength(1);
    // The other nodes come back into a session with a leader this node does not reach: it is cut off, from now
    // (it last carried on at 8 s), not from its last contact: each task stops once its own time has passed since.
    probes.list = [up(true), up(true), down];
    const since = clock.now - 100;
    const stoppedAt: number[] = [];
    for (; clock.now <= 20_000; clock.now += 100) {
      const before = stopped.length;
      fence.tick();
      if (stopped.length > before) stoppedAt.push(clock.now - since);
    }
    expect(fence.verdict).toBe('cut-off');
    expect(stopped).toEqual([['plain'], ['patient']]);
    expect(stoppedAt).toEqual([TIMEOUT, 10_000]);
    expect(fence.tasksFenced).toBe(2);
  });

  it('a partition healing: a node that carried on and then finds itself in a minority fences after the timeout', () => {
    const { clock, probes, stopped, fence } = setup();
    // Half reached (3 of 6 with the node), no leader: carry on for a minute.
    probes.voters = 6;
    probes.list = [up(), up(), down, down, down];
    for (clock.now = 0; clock.now <= 60_000; clock.now += 100) fence.tick();
    expect(fence.verdict).toBe('carry-on');
    // One peer goes over to the leader's side: this node reaches less than half now.
    probes.list = [up(), down, down, down, down];
    const since = clock.now - 100;
    for (; clock.now < since + TIMEOUT; clock.now += 100) fence.tick();
    expect(fence.verdict).toBe('cut-off');
    expect(stopped).toEqual([]);
    fence.tick();
    expect(stopped).toEqual([['plain']]);
  });

  it('waiting for the first answers is not carrying on: a node cut off counts from its last contact', () => {
    const { clock, probes, stopped, fence } = setup();
    // No answers yet past the timeout (it waits up to a second), then nobody answers.
    for (clock.now = 0; clock.now <= TIMEOUT + 500; clock.now += 100) fence.tick();
    expect(fence.verdict).toBe('carry-on');
    probes.list = [down, down, down];
    fence.tick();
    expect(stopped).toEqual([['plain']]);
  });

  it('stops each task once per episode, at its own time; contact again ends the episode', () => {
    const { clock, probes, stopped, fence } = setup();
    probes.list = [down, down, down];
    for (clock.now = 0; clock.now <= 9_900; clock.now += 100) fence.tick();
    expect(stopped).toEqual([['plain']]);
    for (; clock.now <= 10_500; clock.now += 100) fence.tick();
    expect(stopped).toEqual([['plain'], ['patient']]);
    clock.lastContact = clock.now;
    expect(fence.tick().verdict).toBe('in-touch');
    expect(fence.verdict).toBe('in-touch');
    // A new episode: the same tasks (still assigned) are stopped again when it comes to that.
    for (; clock.now <= clock.lastContact + TIMEOUT + 100; clock.now += 100) fence.tick();
    expect(stopped).toEqual([['plain'], ['patient'], ['plain']]);
  });
});
