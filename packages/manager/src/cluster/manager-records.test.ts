import { Manager } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { managerCountWarnings, managerStates } from './manager-records.js';

const manager = (id: string, etcdMember: boolean, demoted = false) =>
  Manager.fromPartial({ id, hostname: `host-${id}`, address: `${id}:4242`, etcdMember, demoted });

describe('the managers as members', () => {
  it('are warned about as Swarm does: one manager, two etcd members, an even count of them', () => {
    expect(managerCountWarnings([])).toEqual([]);
    expect(managerCountWarnings([manager('a', true)]).join()).toMatch(/one manager/);
    expect(managerCountWarnings([manager('a', true), manager('b', true)]).join()).toMatch(/tolerate no failure/);
    expect(managerCountWarnings(['a', 'b', 'c'].map((id) => manager(id, true)))).toEqual([]);
    expect(managerCountWarnings(['a', 'b', 'c', 'd'].map((id) => manager(id, true))).join()).toMatch(
      /4 managers .* no more failures \(1\) than 3/,
    );
    expect(managerCountWarnings(['a', 'b', 'c', 'd', 'e'].map((id) => manager(id, true)))).toEqual([]);
    // On an external etcd, two managers are enough for one to fail; demoted ones do not count.
    expect(managerCountWarnings([manager('a', false), manager('b', false)])).toEqual([]);
    expect(managerCountWarnings([manager('a', true), manager('b', true, true)]).join()).toMatch(/one manager/);
  });

  it('are listed the leader first, then the reachable, then the unreachable; demoted ones not at all', () => {
    const records = ['d', 'c', 'b', 'a'].map((id) => ({ id, value: manager(id, true, id === 'd'), version: 1n }));
    const states = managerStates(records, { leaderId: 'b', candidateIds: new Set(['a', 'b']) });
    expect(states.map((s) => [s.manager.id, s.leader, s.reachable])).toEqual([
      ['b', true, true],
      ['a', false, true],
      ['c', false, false],
    ]);
  });
});
