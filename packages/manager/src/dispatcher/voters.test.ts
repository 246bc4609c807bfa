import { Node } from '@flotilla/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VoterRoll, votersOf } from './voters.js';

const node = (id: string, probeAddress = '') => Node.fromPartial({ id, status: { probeAddress } });

describe('votersOf', () => {
  it('lists every node with its probe address, then every manager at its gRPC address, each by ID', () => {
    const voters = votersOf(
      [node('n2', '10.0.0.2:4243'), node('n1', '10.0.0.1:4243'), node('joined')],
      [
        { id: 'm2', address: '10.0.0.9:4242' },
        { id: 'm1', address: '10.0.0.8:4242' },
      ],
    );
    expect(voters).toEqual([
      { id: 'joined', probeAddress: '', manager: false },
      { id: 'n1', probeAddress: '10.0.0.1:4243', manager: false },
      { id: 'n2', probeAddress: '10.0.0.2:4243', manager: false },
      { id: 'm1', probeAddress: '10.0.0.8:4242', manager: true },
      { id: 'm2', probeAddress: '10.0.0.9:4242', manager: true },
    ]);
  });
});

describe('VoterRoll', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Fake timers fake Date.now too, which the roll reads.
  function roll(nodes: Node[]) {
    const send = vi.fn();
    const voters = new VoterRoll({
      nodes: () => nodes,
      managers: () => [{ id: 'm', address: '127.0.0.1:4242' }],
      send,
    });
    return { voters, send, advance: (ms: number) => vi.advanceTimersByTime(ms) };
  }

  it('sends a changed set once after a short wait, and nothing when only node states changed', () => {
    vi.useFakeTimers();
    const nodes = [node('a', '127.0.0.1:1')];
    const { voters, send, advance } = roll(nodes);
    voters.changed();
    voters.changed();
    advance(60);
    expect(send).toHaveBeenCalledTimes(1);
    // A state change rewrites the node but not what voters are made of.
    nodes[0] = Node.fromPartial({ id: 'a', status: { state: 1, probeAddress: '127.0.0.1:1' } });
    voters.changed();
    advance(2_000);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('sends at most once a second however often the set changes', () => {
    vi.useFakeTimers();
    const nodes: Node[] = [];
    const { voters, send, advance } = roll(nodes);
    for (let i = 0; i < 20; i++) {
      nodes.push(node(`n${i}`));
      voters.changed();
      advance(100);
    }
    advance(1_000);
    // 2 s of changes every 100 ms: sent after the short wait, then once a second (at 1.05 s and 2.05 s).
    expect(send).toHaveBeenCalledTimes(3);
    expect(voters.list()).toHaveLength(21);
  });

  it('sends nothing for a set the sessions were just told with the whole session info', () => {
    vi.useFakeTimers();
    const nodes = [node('a')];
    const { voters, send, advance } = roll(nodes);
    nodes.push(node('b'));
    voters.changed();
    voters.sent();
    advance(2_000);
    expect(send).not.toHaveBeenCalled();
    voters.stop();
  });
});
