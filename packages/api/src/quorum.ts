import type { ProbeResponse } from './gen/flotilla/v1/dispatcher.js';

// The rule both sides of a control-plane fault apply, so that no slot runs twice and no outage of the control
// plane stops a task. The voters are the cluster's nodes and its managers.
//
// - The leader replaces the tasks of a node it has lost only while the voters it hears from (itself, the other
//   managers it sees, the nodes with a live session) are a strict majority.
// - A node that hears no leader keeps its tasks while the voters it reaches (itself included) are at least half
//   of all voters and none of them hears a leader; otherwise it is the one cut off, and it fences.
//
// Both cannot hold at once for the same node: a strict majority the leader hears and a half the node reaches
// share at least one voter, and that voter hears the leader, so the node fences. A tie (exactly half) therefore
// keeps tasks running on both sides and replaces nothing, where a strict majority on the node's side too would
// stop the tasks of the half that has no leader.

/** What one peer answered to a probe (or that it did not answer in time). */
export interface PeerProbe {
  reachable: boolean;
  /** The peer is in a session with a leader (or is the leader). */
  hearsLeader: boolean;
  /** How long, by now, the peer has heard that leader without a break, when it says. */
  leaderForMs?: number;
}

export interface NodeQuorumInput {
  /** Every voter of the cluster (nodes and managers), this node included, as the last session told. */
  voters: number;
  /** Fresh answers, one per distinct peer, this node excluded: all peers, or a random sample of them. */
  probes: readonly PeerProbe[];
}

/**
 * The verdict, and for a node cut off because peers hear a leader, how long at most that leader has been heard
 * (the longest any of those peers says; absent when none says). A node cut off for longer than its own silence
 * counts from its silence; one that was carrying on while the control plane was away counts from this: it was
 * not cut off before there was a leader to be cut off from.
 */
export type NodeQuorumVerdict =
  | { verdict: 'carry-on'; reason: string }
  | { verdict: 'cut-off'; reason: string; leaderForMs?: number };

/** Below this many answers a sample says too little about a large cluster: the node fences, as it would alone. */
export const MIN_SAMPLE = 8;

/**
 * The node's side, while it hears no leader: whether the rest of the cluster can go on without it (it is cut off,
 * and fences after its timeout), or the control plane itself is away (it carries on, and nobody replaces it).
 * With a sample of a large cluster, the share reached is taken at the low end of its two-sigma range, so a node
 * decides to carry on only when it is clearly not in a minority.
 */
export function nodeQuorum(input: NodeQuorumInput): NodeQuorumVerdict {
  const others = Math.max(0, input.voters - 1);
  const hearing = input.probes.filter((p) => p.reachable && p.hearsLeader);
  if (hearing.length > 0) {
    const said = hearing.map((p) => p.leaderForMs);
    const known = said.every((ms) => ms !== undefined && ms > 0);
    return {
      verdict: 'cut-off',
      reason: `${plural(hearing.length, 'peer')} ${hearing.length === 1 ? 'hears' : 'hear'} a leader: this node alone is cut off`,
      ...(known ? { leaderForMs: Math.max(...(said as number[])) } : {}),
    };
  }
  const answered = input.probes.filter((p) => p.reachable).length;
  // Peers not probed yet count as unreachable: what is counted is a lower bound, enough when it is half already.
  if (2 * (1 + answered) >= input.voters) {
    return {
      verdict: 'carry-on',
      reason: `${answered + 1} of ${input.voters} voters reachable and none hears a leader: the control plane is away`,
    };
  }
  const sampled = Math.min(input.probes.length, others);
  if (sampled >= others) {
    return { verdict: 'cut-off', reason: `${answered + 1} of ${input.voters} voters reachable: fewer than half` };
  }
  if (sampled < MIN_SAMPLE) {
    return { verdict: 'cut-off', reason: `only ${sampled} of ${others} peers probed yet` };
  }
  const share = answered / sampled;
  const low = Math.max(0, share - 2 * Math.sqrt((share * (1 - share) + 1e-9) / sampled));
  const reach = 1 + low * others;
  const what = `about ${Math.round(reach)} of ${input.voters} voters reachable (sampled)`;
  return 2 * reach >= input.voters
    ? { verdict: 'carry-on', reason: `${what} and none hears a leader: the control plane is away` }
    : { verdict: 'cut-off', reason: `${what}: fewer than half` };
}

export interface LeaderQuorumInput {
  /** Every voter of the cluster: nodes (not removed) and managers. */
  voters: number;
  /** The voters the leader hears: itself, the managers it sees, the nodes with a live session. */
  heard: number;
}

/**
 * The leader's side: whether it may replace the tasks of nodes it lost (mark them down), or must mark them
 * unknown and wait, because it may itself be on the side that is cut off.
 */
export function leaderMayReplace(input: LeaderQuorumInput): { replace: boolean; reason: string } {
  const replace = 2 * input.heard > input.voters;
  return {
    replace,
    reason: replace
      ? `${input.heard} of ${input.voters} voters heard: a majority`
      : `only ${input.heard} of ${input.voters} voters heard: not a majority, lost nodes are unknown, not down`,
  };
}

/** What a service says about its tasks while their node is cut off (`x-flotilla: disconnect:` in the stack file). */
export interface DisconnectPolicy {
  /** How long a cut-off node keeps the task before it stops it; absent: the cluster's self-fence timeout. */
  stopAfterMs?: number;
  /** Never stop the task because its node is cut off (it may then run twice, by the user's choice). */
  neverStop?: boolean;
  /** False: the leader does not replace the task while its node is only unreachable (stateful services). */
  replace?: boolean;
}

/**
 * When a task on a cut-off node stops: `undefined` when it keeps running. A task the leader will not replace
 * has no twin to guard against, so it runs on.
 */
export function fenceAfterMs(policy: DisconnectPolicy | undefined, selfFenceTimeoutMs: number): number | undefined {
  if (policy?.neverStop || policy?.replace === false) return undefined;
  return policy?.stopAfterMs ?? selfFenceTimeoutMs;
}

/**
 * A probe's answer on the wire, as nodes and managers send it: whole milliseconds, and how long the leader has been
 * heard at least 1 while one is (0 says none, or a peer too old to tell).
 */
export function probeResponse(answer: {
  hearsLeader: boolean;
  silentMs: number;
  leaderHeardForMs: number;
}): ProbeResponse {
  const wholeMs = (ms: number) => BigInt(Math.max(0, Math.round(ms)));
  return {
    hearsLeader: answer.hearsLeader,
    silentMs: wholeMs(answer.silentMs),
    leaderHeardForMs: answer.hearsLeader ? wholeMs(Math.max(1, answer.leaderHeardForMs)) : 0n,
  };
}

/** Up to `count` distinct peers drawn at random (`random` in [0,1)), for one probe round. */
export function probeSample<T>(peers: readonly T[], count: number, random: () => number): T[] {
  const pool = [...peers];
  const n = Math.min(count, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, n);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
