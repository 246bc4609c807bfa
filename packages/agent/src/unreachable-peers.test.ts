import { NetworkView, TaskEndpoint } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { UnreachablePeers, withoutUnreachable } from './unreachable-peers.js';

const endpoint = (taskId: string, nodeId: string, serviceId = 'web', ready = true) =>
  TaskEndpoint.fromPartial({ taskId, nodeId, serviceId, networkId: 'ingress', address: `10.0.0.${taskId}/24`, ready });

const view = NetworkView.fromPartial({
  endpoints: [endpoint('1', 'a'), endpoint('2', 'b'), endpoint('3', 'c'), endpoint('4', 'c', 'db')],
});

const ready = (v: NetworkView) => v.endpoints.filter((e) => e.ready).map((e) => e.taskId);

describe('withoutUnreachable', () => {
  it('takes the endpoints on unreachable nodes out', () => {
    expect(ready(withoutUnreachable(view, new Set(['a']), 'b'))).toEqual(['2', '3', '4']);
  });

  it("never the last ready endpoint of a service, nor this node's own", () => {
    // db runs only on c: left in. web keeps b's.
    expect(ready(withoutUnreachable(view, new Set(['a', 'c']), 'b'))).toEqual(['2', '4']);
    expect(ready(withoutUnreachable(view, new Set(['b']), 'b'))).toEqual(['1', '2', '3', '4']);
  });

  it('the same view when nothing is out of reach', () => {
    expect(withoutUnreachable(view, new Set(), 'b')).toBe(view);
    expect(withoutUnreachable(view, new Set(['z']), 'b')).toBe(view);
  });

  it('an endpoint not ready stays not ready, and counts for nothing', () => {
    const v = NetworkView.fromPartial({ endpoints: [endpoint('1', 'a'), endpoint('2', 'b', 'web', false)] });
    expect(ready(withoutUnreachable(v, new Set(['a']), 'c'))).toEqual(['1']);
  });
});

describe('UnreachablePeers', () => {
  const voter = (id: string, manager = false) => ({ id, probeAddress: `${id}:1`, manager });

  it('holds a node that did not answer until it answers again, and tells each change', async () => {
    let changes = 0;
    let answers = false;
    const peers = new UnreachablePeers({
      call: async () => {
        if (!answers) throw new Error('no answer');
        return { hearsLeader: true, silentMs: 0, leaderHeardForMs: 1_000 };
      },
      onChange: () => changes++,
      intervalMs: 60_000,
    });
    try {
      peers.answered(voter('a'), false);
      peers.answered(voter('a'), false);
      expect([...peers.current()]).toEqual(['a']);
      expect(changes).toBe(1);
      await peers.askAgain();
      expect([...peers.current()]).toEqual(['a']);
      answers = true;
      await peers.askAgain();
      expect([...peers.current()]).toEqual([]);
      expect(changes).toBe(2);
    } finally {
      peers.stop();
    }
  });

  it('ignores managers and voters without a probe address; a probe that answers lets go', () => {
    const peers = new UnreachablePeers({ call: async () => Promise.reject(new Error('x')), onChange: () => {} });
    try {
      peers.answered(voter('m', true), false);
      peers.answered({ id: 'n', probeAddress: '', manager: false }, false);
      expect(peers.current().size).toBe(0);
      peers.answered(voter('a'), false);
      peers.answered(voter('a'), true);
      expect(peers.current().size).toBe(0);
    } finally {
      peers.stop();
    }
  });

  it("lets go of a node once the managers' view has no endpoints on it (marked down)", () => {
    const peers = new UnreachablePeers({ call: async () => Promise.reject(new Error('x')), onChange: () => {} });
    try {
      peers.answered(voter('a'), false);
      peers.prune(view);
      expect([...peers.current()]).toEqual(['a']);
      peers.prune(NetworkView.fromPartial({ endpoints: [endpoint('2', 'b')] }));
      expect(peers.current().size).toBe(0);
    } finally {
      peers.stop();
    }
  });
});
