import { describe, expect, it } from 'vitest';
import { EtcdMembers } from './etcd-members.js';

describe('EtcdMembers', () => {
  it('keeps the order given, without duplicates, and tells followers of a change only', () => {
    const members = new EtcdMembers(['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://10.0.0.1:2379']);
    let changes = 0;
    members.follow(() => changes++);
    expect(members.current).toEqual(['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(members.endpoints()).toEqual([
      { addresses: [{ host: '10.0.0.1', port: 2379 }] },
      { addresses: [{ host: '10.0.0.2', port: 2379 }] },
    ]);
    members.set(['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(changes).toBe(0);
    members.set(['https://10.0.0.1:2379', 'https://[fd00::3]:2379']);
    expect(changes).toBe(1);
    expect(members.endpoints()[1]).toEqual({ addresses: [{ host: 'fd00::3', port: 2379 }] });
    expect(members.target).toMatch(/^flotilla-etcd:members-\d+$/);
  });

  it('refuses a list that is empty or holds something other than a URL, saying what to give', () => {
    expect(() => new EtcdMembers([])).toThrow(/needs a client URL/);
    const members = new EtcdMembers(['https://10.0.0.1:2379']);
    expect(() => members.set(['10.0.0.1:2379 x'])).toThrow(/not a URL; give one as https:\/\/HOST:PORT/);
    expect(members.current).toEqual(['https://10.0.0.1:2379']);
  });
});
