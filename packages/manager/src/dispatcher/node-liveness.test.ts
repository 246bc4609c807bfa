import { NodeStatus_State } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { expiredNodes, Heartbeats, lostNodes, type WatchedNode } from './node-liveness.js';

describe('expiredNodes', () => {
  const options = { periodMs: 1_000, gracePeriods: 3, startedAt: 10_000 };

  it('marks a node down after the grace, not before', () => {
    const beats = new Map([['a', 20_000]]);
    expect(expiredNodes(beats, ['a'], 23_000, options)).toEqual([]);
    expect(expiredNodes(beats, ['a'], 23_001, options)).toEqual(['a']);
  });

  it('gives every node the grace from the moment the monitor started (failover)', () => {
    expect(expiredNodes(new Map(), ['never-seen'], 12_999, options)).toEqual([]);
    expect(expiredNodes(new Map(), ['never-seen'], 13_001, options)).toEqual(['never-seen']);
    expect(expiredNodes(new Map([['old', 1_000]]), ['old'], 12_000, options)).toEqual([]);
  });
});

describe('expiredNodes after a takeover', () => {
  const options = { periodMs: 1_000, gracePeriods: 3, startedAt: 10_000, takeoverGraceMs: 8_000 };

  it('waits the takeover grace for nodes not heard since the start, the normal grace once they beat', () => {
    expect(expiredNodes(new Map(), ['silent'], 17_999, options)).toEqual([]);
    expect(expiredNodes(new Map(), ['silent'], 18_001, options)).toEqual(['silent']);
    expect(expiredNodes(new Map([['beat', 11_000]]), ['beat'], 14_001, options)).toEqual(['beat']);
  });
});

describe('expiredNodes for a restarting agent', () => {
  it('holds a node whose agent said it is restarting until its deadline, then marks it down if still silent', () => {
    const options = { periodMs: 1_000, gracePeriods: 3, startedAt: 0, holdUntil: new Map([['r', 50_000]]) };
    const beats = new Map([
      ['r', 20_000],
      ['other', 20_000],
    ]);
    expect(expiredNodes(beats, ['r', 'other'], 30_000, options)).toEqual(['other']);
    expect(expiredNodes(beats, ['r'], 50_001, options)).toEqual(['r']);
  });
});

describe('lostNodes: down only while the leader hears a strict majority of the voters', () => {
  // A majority heard since the start, unless a case says otherwise.
  const options = { periodMs: 1_000, gracePeriods: 3, startedAt: 0, majoritySince: 0 };
  const READY = NodeStatus_State.STATE_READY;
  const UNKNOWN = NodeStatus_State.STATE_UNKNOWN;
  const DOWN = NodeStatus_State.STATE_DOWN;
  const at = 20_000;
  const nodes = (...states: [string, NodeStatus_State, bigint?][]): WatchedNode[] =>
    states.map(([id, state, lastHeartbeatMs]) => ({ id, state, lastHeartbeatMs: lastHeartbeatMs ?? 1n }));
  /** Nodes in `silent` last beat long ago, the others just now. */
  const beats = (ids: string[], silent: string[]) => new Map(ids.map((id) => [id, silent.includes(id) ? 1_000 : at]));

  it('one node of three lost, one manager: 3 of 4 voters heard, it is down', () => {
    const all = nodes(['a', READY], ['b', READY], ['c', READY]);
    expect(lostNodes(beats(['a', 'b', 'c'], ['c']), all, at, { ...options, managers: 1 })).toEqual({
      nodeIds: ['c'],
      state: DOWN,
      message: 'heartbeat failure',
    });
  });

  it('three nodes of four lost, one manager: 2 of 5 voters heard, they are unknown and not replaced', () => {
    const all = nodes(['a', READY], ['b', READY], ['c', READY], ['d', READY]);
    const lost = lostNodes(beats(['a', 'b', 'c', 'd'], ['b', 'c', 'd']), all, at, { ...options, managers: 1 });
    expect(lost).toEqual({
      nodeIds: ['b', 'c', 'd'],
      state: UNKNOWN,
      message: 'not replaced: only 2 of 5 voters heard',
    });
  });

  it('a tie is no majority: with four nodes and two managers, 4 of 6 heard is one, 3 of 6 is not', () => {
    const all = nodes(['a', READY], ['b', READY], ['c', READY], ['d', READY]);
    const ids = ['a', 'b', 'c', 'd'];
    expect(lostNodes(beats(ids, ['c', 'd']), all, at, { ...options, managers: 2 }).state).toBe(DOWN);
    expect(lostNodes(beats(ids, ['b', 'c', 'd']), all, at, { ...options, managers: 2 }).state).toBe(UNKNOWN);
    // Two nodes and one manager: one lost leaves 2 of 3, a majority; with two managers, 3 of 4.
    const two = nodes(['a', READY], ['b', READY]);
    expect(lostNodes(beats(['a', 'b'], ['b']), two, at, { ...options, managers: 1 }).state).toBe(DOWN);
  });

  it('nodes already unknown are not marked again; once a majority is heard, the ones still silent are down', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const marked = nodes(['a', READY], ['b', UNKNOWN], ['c', UNKNOWN], ['d', UNKNOWN]);
    const minority = lostNodes(beats(ids, ['b', 'c', 'd']), marked, at, { ...options, managers: 1 });
    expect(minority.nodeIds).toEqual([]);
    // b and c are back (their sessions make them ready; here they just beat): 4 of 5 heard, d is down.
    const back = nodes(['a', READY], ['b', READY], ['c', READY], ['d', UNKNOWN]);
    expect(lostNodes(beats(ids, ['d']), back, at, { ...options, managers: 1 })).toEqual({
      nodeIds: ['d'],
      state: DOWN,
      message: 'heartbeat failure',
    });
  });

  it('a node that never held a session stays unknown, a down one stays down, and both count as not heard', () => {
    const all = nodes(['a', READY], ['joined', UNKNOWN, 0n], ['gone', DOWN], ['c', READY]);
    const lost = lostNodes(beats(['a', 'c'], ['c']), all, at, { ...options, managers: 1 });
    // Voters 5 (4 nodes and the manager); heard: a and the manager.
    expect(lost).toEqual({ nodeIds: ['c'], state: UNKNOWN, message: 'not replaced: only 2 of 5 voters heard' });
  });

  it('a node not heard since a takeover is not heard: the new leader waits for a majority to find it', () => {
    const takeover = { periodMs: 1_000, gracePeriods: 3, startedAt: 18_000, takeoverGraceMs: 8_000 };
    const all = nodes(['a', READY], ['b', READY], ['c', READY]);
    // b and c have not found this leader yet; a went silent after it beat here once.
    const alone = lostNodes(new Map([['a', 18_500]]), all, 22_000, { ...takeover, managers: 1 });
    expect(alone).toEqual({ nodeIds: ['a'], state: UNKNOWN, message: 'not replaced: only 1 of 4 voters heard' });
    const found = new Map([
      ['a', 18_500],
      ['b', 21_500],
      ['c', 21_900],
    ]);
    // A majority since 21_900 (c's session): a node cut off learns it from b or c and fences within its timeout,
    // so it is given the grace from then before it is down.
    const soon = lostNodes(found, all, 22_000, { ...takeover, managers: 1, majoritySince: 21_900 });
    expect(soon).toEqual({
      nodeIds: ['a'],
      state: UNKNOWN,
      message: 'not replaced yet: a majority (3 of 4 voters) heard only just now',
    });
    const beating = new Map([...found, ['b', 25_900], ['c', 25_900]]);
    expect(lostNodes(beating, all, 25_900, { ...takeover, managers: 1, majoritySince: 21_900 }).state).toBe(UNKNOWN);
    expect(lostNodes(beating, all, 25_901, { ...takeover, managers: 1, majoritySince: 21_900 }).state).toBe(DOWN);
  });

  it('nodes cut off together expire one by one, but the first already finds the others not heard', () => {
    // Cut at 10_000; each had beat within the period before. a expires first (silent 3 s since 9_100).
    const all = nodes(['a', READY], ['b', READY], ['c', READY], ['d', READY]);
    const lastBeats = new Map([
      ['a', 9_100],
      ['b', 9_500],
      ['c', 9_900],
      ['d', 12_000],
    ]);
    const first = lostNodes(lastBeats, all, 12_101, { ...options, managers: 1 });
    expect(first).toEqual({ nodeIds: ['a'], state: UNKNOWN, message: 'not replaced: only 2 of 5 voters heard' });
  });

  it('a restarting node is not marked, and not counted as heard', () => {
    const all = nodes(['a', READY], ['b', READY], ['c', READY]);
    const holdUntil = new Map([['b', 60_000]]);
    const lost = lostNodes(beats(['a', 'b', 'c'], ['b', 'c']), all, at, { ...options, holdUntil, managers: 1 });
    expect(lost).toEqual({ nodeIds: ['c'], state: UNKNOWN, message: 'not replaced: only 2 of 4 voters heard' });
  });

  it('without managers to count, the rule is off: silent nodes are down', () => {
    const all = nodes(['a', READY], ['b', READY], ['c', READY]);
    expect(lostNodes(beats(['a', 'b', 'c'], ['a', 'b', 'c']), all, at, options).state).toBe(DOWN);
  });
});

describe('Heartbeats: a majority regained counts from when it was regained', () => {
  it('keeps a silent node unknown for the grace and a period after the leader hears a majority again, then down', () => {
    let now = 10_000;
    const hb = new Heartbeats({ periodMs: 1_000, gracePeriods: 3, now: () => now });
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) hb.opened(id);
    const watched = (...unknown: string[]): WatchedNode[] =>
      ids.map((id) => ({
        id,
        state: unknown.includes(id) ? NodeStatus_State.STATE_UNKNOWN : NodeStatus_State.STATE_READY,
        lastHeartbeatMs: 1n,
      }));
    // a alone beats on: 2 of 5 voters heard (a and the manager), the others are unknown.
    for (now = 11_000; now <= 20_000; now += 1_000) hb.beat('a');
    expect(hb.lost(watched(), 1)).toMatchObject({ nodeIds: ['b', 'c', 'd'], state: NodeStatus_State.STATE_UNKNOWN });
    // b and c come back at 21_000: a majority (4 of 5) from then, d is still silent.
    for (now = 21_000; now <= 25_000; now += 1_000) {
      for (const id of ['a', 'b', 'c']) hb.beat(id);
      const lost = hb.lost(watched('d'), 1);
      expect(lost.nodeIds, `at ${now}`).toEqual([]);
    }
    for (const id of ['a', 'b', 'c']) hb.beat(id);
    now = 25_001;
    expect(hb.lost(watched('d'), 1)).toEqual({
      nodeIds: ['d'],
      state: NodeStatus_State.STATE_DOWN,
      message: 'heartbeat failure',
    });
  });
});
