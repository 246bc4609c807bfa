import { type PeerProbe, probeSample, type Voter } from '@flotilla/api';
import type { ProbeCall } from './peer-service.js';

export interface PeerProberOptions {
  /** This node's ID: it is a voter, but is not probed. */
  selfId: string;
  call: ProbeCall;
  /** While this says so, a round of probes every interval; when it stops saying so, the answers are forgotten. */
  active?: () => boolean;
  /** Peers probed per round, at most (24). */
  sample?: number;
  intervalMs?: number;
  /** Each probe's deadline (400 ms: within a round). */
  deadlineMs?: number;
  /** How long an answer counts (3 s). */
  freshMs?: number;
  /**
   * Called with the addresses still worth a channel: the voters' after each round, none once probing stops (so
   * the caller can close the rest).
   */
  release?: (keep: ReadonlySet<string>) => void;
  /** Called after a round in which some voter answered that it hears a leader. */
  onLeaderHeard?: () => void;
  /** Called with each probe's outcome: whether the voter answered at all. */
  onAnswer?: (voter: Voter, reachable: boolean) => void;
  now?: () => number;
  random?: () => number;
}

/** A probe's outcome as kept: the answer, if any, and whether the voter is a manager. */
interface Answer {
  reachable: boolean;
  hearsLeader: boolean;
  silentMs: number;
  leaderHeardForMs: number;
  manager: boolean;
  at: number;
}

/**
 * A node peer counts as hearing a leader only if it heard one this much more recently than this node did (in
 * heartbeat periods). When the control plane pauses, every node loses it within one period of the others; a
 * node that alone is cut off sees its connected peers hear the leader every period.
 */
const LATER_BY_PERIODS = 1.25;

/**
 * Asks a sample of the voters, a round at a time, whether they hear a leader, and keeps the freshest answer of
 * each. A voter without a probe address, or that does not answer within the deadline, is not reachable.
 */
export class PeerProber {
  private voters: Voter[] = [];
  private readonly answers = new Map<string, Answer>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Probes sent so far. */
  probesSent = 0;

  constructor(private readonly options: PeerProberOptions) {}

  /** The voters of the last session: every node and manager, this node included. */
  setVoters(voters: readonly Voter[]): void {
    this.voters = [...new Map(voters.map((v) => [v.id, v])).values()];
    const ids = new Set(this.voters.map((v) => v.id));
    for (const id of this.answers.keys()) if (!ids.has(id)) this.answers.delete(id);
  }

  /** Whether a node is among the voters (any is while none are known yet: no session has named them). */
  isVoter(id: string): boolean {
    return this.voters.length === 0 || this.voters.some((v) => v.id === id);
  }

  /** How many voters there are (this node counted even if the list left it out); 0 when none are known. */
  voterCount(): number {
    if (this.voters.length === 0) return 0;
    return this.voters.length + (this.voters.some((v) => v.id === this.options.selfId) ? 0 : 1);
  }

  /**
   * The answers still fresh, one per voter probed. Given this node's own silence, a node peer hears a leader only
   * if it heard one clearly later than this node did (a manager that sees a leader always does).
   */
  fresh(own?: { silentForMs: number; periodMs: number }): PeerProbe[] {
    const now = this.now();
    return this.freshAnswers(now).map((a) => {
      const later =
        a.manager || own === undefined || a.silentMs + (now - a.at) + LATER_BY_PERIODS * own.periodMs < own.silentForMs;
      const hearsLeader = a.reachable && a.hearsLeader && later;
      // How long, by now, the peer has heard its leader (unknown from a peer that does not say).
      const leaderForMs = hearsLeader && a.leaderHeardForMs > 0 ? a.leaderHeardForMs + (now - a.at) : undefined;
      return { reachable: a.reachable, hearsLeader, ...(leaderForMs === undefined ? {} : { leaderForMs }) };
    });
  }

  /** Managers whose fresh answer says they hear a leader (one leads, or they see it). */
  managersAnswering(): number {
    return this.freshAnswers(this.now()).filter((a) => a.manager && a.reachable && a.hearsLeader).length;
  }

  /** The answers younger than `freshMs` (3 s). */
  private freshAnswers(now: number): Answer[] {
    const oldest = now - (this.options.freshMs ?? 3_000);
    return [...this.answers.values()].filter((a) => a.at > oldest);
  }

  /** Drops every answer (a manager is heard again: the next episode starts afresh). */
  forget(): void {
    this.answers.clear();
  }

  /**
   * Looks every 100 ms whether to probe: the first round goes out as soon as the node hears no leader (its answers
   * must be in by the self-fence timeout), then one round per interval while that lasts.
   */
  start(): void {
    clearInterval(this.timer);
    let lastRound = Number.NEGATIVE_INFINITY;
    this.timer = setInterval(() => {
      if (this.options.active?.() ?? true) {
        const now = this.now();
        if (now - lastRound < (this.options.intervalMs ?? 500)) return;
        lastRound = now;
        void this.round();
      } else {
        lastRound = Number.NEGATIVE_INFINITY;
        if (this.answers.size > 0) {
          this.forget();
          this.options.release?.(new Set());
        }
      }
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: a fresh sample of the peers, probed at once; a round still under way is not overlapped. */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const peers = this.voters.filter((v) => v.id !== this.options.selfId);
      const sample = probeSample(peers, this.options.sample ?? 24, this.options.random ?? Math.random);
      const heard = await Promise.all(sample.map((voter) => this.probe(voter)));
      this.options.release?.(new Set(this.voters.map((v) => v.probeAddress).filter((a) => a !== '')));
      if (heard.some((h) => h)) this.options.onLeaderHeard?.();
    } finally {
      this.running = false;
    }
  }

  /** Probes one voter and keeps its answer; true when it hears a leader. */
  private async probe(voter: Voter): Promise<boolean> {
    let answer = { reachable: false, hearsLeader: false, silentMs: 0, leaderHeardForMs: 0 };
    if (voter.probeAddress !== '') {
      this.probesSent++;
      try {
        answer = { reachable: true, ...(await this.options.call(voter.probeAddress, this.deadline(), voter.id)) };
      } catch {
        // No answer in time, refused, or a peer whose certificate is not the cluster's: not reachable.
      }
    }
    // A voter that left while the probe was out is not counted.
    if (this.voters.some((v) => v.id === voter.id)) {
      this.answers.set(voter.id, { ...answer, manager: voter.manager, at: this.now() });
      this.options.onAnswer?.(voter, answer.reachable);
    }
    return answer.hearsLeader;
  }

  private deadline(): number {
    return this.options.deadlineMs ?? 400;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
