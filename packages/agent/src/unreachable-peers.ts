import type { NetworkView, Voter } from '@flotilla/api';
import type { ProbeCall } from './peer-service.js';

/**
 * The network view with the endpoints on unreachable nodes taken out (not ready: no published port, virtual IP or
 * DNS answer leads there), but never the last ready endpoints of a service on a network: a false alarm must not
 * take a service away, and a service whose only tasks are out of reach fails either way. This node's own
 * endpoints stay.
 */
export function withoutUnreachable(view: NetworkView, unreachable: ReadonlySet<string>, self: string): NetworkView {
  if (unreachable.size === 0) return view;
  const out = (e: NetworkView['endpoints'][number]) => e.ready && e.nodeId !== self && unreachable.has(e.nodeId);
  const readyLeft = new Map<string, number>();
  for (const e of view.endpoints) {
    if (!e.ready || out(e)) continue;
    const key = `${e.serviceId}/${e.networkId}`;
    readyLeft.set(key, (readyLeft.get(key) ?? 0) + 1);
  }
  let changed = false;
  const endpoints = view.endpoints.map((e) => {
    if (!out(e) || (readyLeft.get(`${e.serviceId}/${e.networkId}`) ?? 0) === 0) return e;
    changed = true;
    return { ...e, ready: false };
  });
  return changed ? { ...view, endpoints } : view;
}

export interface UnreachablePeersOptions {
  call: ProbeCall;
  /** Called when the set changes (the network view is applied again without them). */
  onChange: () => void;
  /** How often a node held unreachable is asked again (1 s), each probe with this deadline (400 ms). */
  intervalMs?: number;
  deadlineMs?: number;
  /** At most this many are asked again per round (24). */
  sample?: number;
}

/**
 * Nodes this one found out of reach while it probed its peers (no leader heard): a host that is gone still has
 * its tasks in the managers' views until a leader marks it down, and every connection sent there meanwhile
 * fails. A node is held until it answers a probe again (asked every second, also once a leader is heard) or the
 * managers' view no longer has endpoints on it.
 */
export class UnreachablePeers {
  private readonly held = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private asking = false;

  constructor(private readonly options: UnreachablePeersOptions) {}

  /** The node IDs held unreachable now. */
  current(): ReadonlySet<string> {
    return new Set(this.held.keys());
  }

  /** A probe's outcome for a voter: a node (not a manager) with a probe address that did not answer is held. */
  answered(voter: Voter, reachable: boolean): void {
    if (voter.manager || voter.probeAddress === '') return;
    if (reachable) {
      if (this.held.delete(voter.id)) this.options.onChange();
    } else if (!this.held.has(voter.id)) {
      this.held.set(voter.id, voter.probeAddress);
      this.options.onChange();
      this.start();
    }
  }

  /** Lets go of the nodes the managers' view has no endpoints on any more (marked down, or gone). */
  prune(view: NetworkView): void {
    const listed = new Set(view.endpoints.map((e) => e.nodeId));
    let changed = false;
    for (const id of [...this.held.keys()]) {
      if (!listed.has(id)) changed = this.held.delete(id) || changed;
    }
    if (changed) this.options.onChange();
    if (this.held.size === 0) this.stop();
  }

  /** Asks every node held once, now (a round is not overlapped). */
  async askAgain(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    try {
      const held = [...this.held].slice(0, this.options.sample ?? 24);
      await Promise.all(
        held.map(async ([id, address]) => {
          try {
            await this.options.call(address, this.options.deadlineMs ?? 400, id);
            if (this.held.get(id) === address && this.held.delete(id)) this.options.onChange();
          } catch {
            // Still out of reach: held.
          }
        }),
      );
    } finally {
      this.asking = false;
      if (this.held.size === 0) this.stop();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.askAgain(), this.options.intervalMs ?? 1_000);
    this.timer.unref();
  }
}
