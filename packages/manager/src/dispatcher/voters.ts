import type { Node, Voter } from '@flotilla/api';

/** A live manager as a voter: it answers probes (PeerService) on its gRPC address. */
export interface ManagerVoter {
  id: string;
  address: string;
}

/**
 * The voters of the quorum rule, as sessions tell them to agents: every node in the store (with the probe address
 * its last session gave, empty if none: it counts, but is never reached) and every live manager, in a stable order
 * (nodes, then managers, each by ID) so that an unchanged set compares equal.
 */
export function votersOf(nodes: readonly Node[], managers: readonly ManagerVoter[]): Voter[] {
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return [
    ...[...nodes].sort(byId).map((n) => ({ id: n.id, probeAddress: n.status?.probeAddress ?? '', manager: false })),
    ...[...managers].sort(byId).map((m) => ({ id: m.id, probeAddress: m.address, manager: true })),
  ];
}

/** One string per set of voters: equal when nothing an agent reads changed. */
export function votersKey(voters: readonly Voter[]): string {
  return voters.map((v) => `${v.manager ? 'm' : 'n'} ${v.id} ${v.probeAddress}`).join('\n');
}

export interface VoterRollOptions {
  nodes: () => readonly Node[];
  managers: () => readonly ManagerVoter[];
  /** Tells every session the voters (called when they changed). */
  send: () => void;
  /** Sends are at least this far apart (ms), however often nodes change: a list goes to every session. */
  minIntervalMs?: number;
  now?: () => number;
}

/** A change waits this long for the ones that come with it (a burst of joins, a new leader's status writes). */
const GATHER_MS = 50;

/**
 * The voters as the sessions were last told them. Nodes change often (every state change is a write), the voters
 * seldom (a join, a removal, a new probe address, a manager coming or going): a change is checked after a short
 * wait, at most once per interval, and sent to the sessions only if the voters differ from what they were told.
 */
export class VoterRoll {
  private cached: Voter[] | undefined;
  private told = '';
  private toldAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: VoterRollOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The voters now (built once per change). */
  list(): Voter[] {
    this.cached ??= votersOf(this.options.nodes(), this.options.managers());
    return this.cached;
  }

  /** Nodes or managers changed: the voters are checked again soon, and sent if they differ. */
  changed(): void {
    this.cached = undefined;
    if (this.timer) return;
    const wait = Math.max(GATHER_MS, this.toldAt + (this.options.minIntervalMs ?? 1_000) - this.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref?.();
  }

  /** Every session was just told the voters now (the whole session info went out): no need to send them again. */
  sent(): void {
    this.told = votersKey(this.list());
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    const key = votersKey(this.list());
    if (key === this.told) return;
    this.told = key;
    this.toldAt = this.now();
    this.options.send();
  }
}
