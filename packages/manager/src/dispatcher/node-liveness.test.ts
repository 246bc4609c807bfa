import { describe, expect, it } from 'vitest';
import { expiredNodes } from './node-liveness.js';

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
