import { type Disconnect, type DisconnectPolicy, fenceAfterMs, nodeQuorum, type PeerProbe } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';

/**
 * Where the node stands with the control plane: a manager was heard within the self-fence timeout (or there is
 * none yet); silent past it but the quorum rule says the control plane is away, so every task runs on; or silent
 * past it and cut off, so tasks stop as their disconnect policy says.
 */
export type FenceVerdict = 'in-touch' | 'carry-on' | 'cut-off';

export const FENCE_VERDICTS: readonly FenceVerdict[] = ['in-touch', 'carry-on', 'cut-off'];

/** A task on this node, as fencing sees it. */
export interface FenceTask {
  id: string;
  disconnect?: DisconnectPolicy | undefined;
}

export interface FenceInput {
  /** How long since a manager last answered. */
  silentForMs: number;
  /** The cluster's self-fence timeout (0: never, or no session yet). */
  selfFenceTimeoutMs: number;
  /** Every voter the last session named, this node included; 0 when the managers named none. */
  voters: number;
  /** Fresh answers of the peers probed (this node excluded). */
  probes: readonly PeerProbe[];
  /**
   * Managers that answered a probe and hear a leader: the control plane is there and reachable, and the session
   * is being made again (a restarted manager), as a follower's refusal of a session counts as contact.
   */
  managersAnswering?: number;
  /**
   * How long ago this node last carried on by the quorum rule in this episode of silence (absent: it has not). A
   * node that carried on was not cut off then: its time cut off starts when that ended (a partition healing, a
   * new leader found by its peers first), not when it last heard a manager.
   */
  sinceCarryOnMs?: number;
  tasks: readonly FenceTask[];
}

export interface FenceDecision {
  verdict: FenceVerdict;
  reason: string;
  /** Tasks to stop now (those already stopped are named again: stopping is idempotent). */
  stop: string[];
  /** Carrying on only while the first probe answers are awaited (not the quorum rule's carry-on). */
  waiting?: boolean;
}

/** How long past the timeout a node waits for its first probe answers (a round: 500 ms, each probe 400 ms). */
const FIRST_ANSWERS_MS = 1_000;

/**
 * The node's fencing rule, at one moment. Past the self-fence timeout, the quorum rule decides: carry on (keep
 * every task) or cut off (stop each task once its policy's time has passed; tasks that never stop run on). With
 * no voters known (managers that do not send them), every task stops at the timeout, as before the rule.
 */
export function fenceDecision(input: FenceInput): FenceDecision {
  const timeout = input.selfFenceTimeoutMs;
  if (timeout <= 0) return { verdict: 'in-touch', reason: 'self-fencing is off (no timeout set)', stop: [] };
  if (input.silentForMs <= timeout) {
    return { verdict: 'in-touch', reason: 'a manager was heard within the self-fence timeout', stop: [] };
  }
  if (input.voters === 0) {
    return {
      verdict: 'cut-off',
      reason: 'no manager heard from within the self-fence timeout, and no voters known to ask',
      stop: input.tasks.map((t) => t.id),
    };
  }
  if ((input.managersAnswering ?? 0) > 0) {
    return {
      verdict: 'in-touch',
      reason: 'a manager answers a probe and hears a leader: the session is being made again',
      stop: [],
    };
  }
  if (input.probes.length === 0 && input.silentForMs <= timeout + FIRST_ANSWERS_MS) {
    // Probing starts before the timeout, but its first answers may not be in yet: deciding now would fence on
    // no evidence. A node really cut off gets its answers (no answer at all) within the probe deadline.
    return { verdict: 'carry-on', reason: 'waiting for the first answers of the peers', stop: [], waiting: true };
  }
  const quorum = nodeQuorum({ voters: input.voters, probes: input.probes });
  if (quorum.verdict === 'carry-on') return { verdict: 'carry-on', reason: quorum.reason, stop: [] };
  // Cut off since the node fell silent; or since it stopped carrying on; or, when the peers that hear a leader say
  // since when, since that leader was first heard: a node that carried on through an outage or a partition was
  // not cut off from the leader that ends it until that leader was there.
  const cutOffForMs = Math.min(
    input.silentForMs,
    quorum.leaderForMs ?? Number.POSITIVE_INFINITY,
    input.sinceCarryOnMs ?? Number.POSITIVE_INFINITY,
  );
  const stop = input.tasks
    .filter((t) => {
      const after = fenceAfterMs(t.disconnect, timeout);
      return after !== undefined && cutOffForMs >= after;
    })
    .map((t) => t.id);
  return { verdict: 'cut-off', reason: quorum.reason, stop };
}

/** A task's disconnect policy from its wire form (stop_after_ms 0: the cluster's self-fence timeout). */
export function disconnectPolicy(disconnect: Disconnect | undefined): DisconnectPolicy | undefined {
  if (!disconnect) return undefined;
  return {
    ...(disconnect.stopAfterMs > 0n ? { stopAfterMs: Number(disconnect.stopAfterMs) } : {}),
    ...(disconnect.neverStop ? { neverStop: true } : {}),
    ...(disconnect.replace === undefined ? {} : { replace: disconnect.replace }),
  };
}

export interface SilenceInput {
  connected: boolean;
  silentForMs: number;
  heartbeatPeriodMs: number;
  selfFenceTimeoutMs: number;
}

/**
 * How long before the self-fence timeout probing starts: the first round goes out within 100 ms and its answers
 * are in within the probe deadline (400 ms), so they are there when the timeout passes.
 */
export const PROBE_LEAD_MS = 500;

/**
 * Whether the node hears no leader and should probe its peers: its stream is down, or no manager answered for
 * two heartbeat periods, or for the self-fence timeout less one probe round when that comes first (the answers
 * must be in when the timeout passes, or the node would fence for want of them). Never while fencing is off.
 */
export function hearsNoLeader(input: SilenceInput): boolean {
  if (input.selfFenceTimeoutMs <= 0) return false;
  if (!input.connected) return true;
  const after = Math.min(
    2 * input.heartbeatPeriodMs,
    Math.max(input.heartbeatPeriodMs, input.selfFenceTimeoutMs - PROBE_LEAD_MS),
  );
  return input.silentForMs > after;
}

export interface NodeFenceOptions {
  /** What the session says now. */
  silence: () => { silentForMs: number; selfFenceTimeoutMs: number };
  /** The voters of the last session (this node included), and the fresh answers of those probed. */
  quorum: () => { voters: number; probes: readonly PeerProbe[]; managersAnswering?: number };
  tasks: () => readonly FenceTask[];
  /** Stops these tasks (each named once per episode). */
  stop: (ids: string[]) => void;
  logger?: Logger;
  now?: () => number;
}

/**
 * The fencing rule applied over time: one decision per tick, each task stopped once per episode of silence, and
 * the verdict logged when it changes (carrying on once per episode). A manager heard again ends the episode.
 */
export class NodeFence {
  verdict: FenceVerdict = 'in-touch';
  reason = '';
  /** Tasks stopped because the node was cut off, over all episodes. */
  tasksFenced = 0;
  private stopped = new Set<string>();
  private carriedOn = false;
  /** When this node last carried on by the quorum rule in this episode (undefined: not in this one). */
  private lastCarryOn: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: NodeFenceOptions) {}

  start(intervalMs = 100): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(): FenceDecision {
    const now = this.options.now?.() ?? Date.now();
    const decision = fenceDecision({
      ...this.options.silence(),
      ...this.options.quorum(),
      ...(this.lastCarryOn === undefined ? {} : { sinceCarryOnMs: now - this.lastCarryOn }),
      tasks: this.options.tasks(),
    });
    const log = this.options.logger;
    if (decision.verdict === 'carry-on' && !decision.waiting) this.lastCarryOn = now;
    if (decision.verdict === 'in-touch') {
      if (this.verdict !== 'in-touch') log?.info('a manager is heard again: the fencing episode ends');
      this.stopped.clear();
      this.carriedOn = false;
      this.lastCarryOn = undefined;
    } else if (decision.verdict === 'carry-on' && !this.carriedOn) {
      this.carriedOn = true;
      log?.warn({ reason: decision.reason }, 'no manager heard within the self-fence timeout: every task carries on');
    } else if (decision.verdict === 'cut-off' && this.verdict !== 'cut-off') {
      log?.warn({ reason: decision.reason }, 'no manager heard within the self-fence timeout: this node is cut off');
    }
    const fresh = decision.stop.filter((id) => !this.stopped.has(id));
    if (fresh.length > 0) {
      for (const id of fresh) this.stopped.add(id);
      this.tasksFenced += fresh.length;
      log?.warn({ reason: decision.reason, tasks: fresh }, 'cut off from the managers: stopping tasks');
      this.options.stop(fresh);
    }
    this.verdict = decision.verdict;
    this.reason = decision.reason;
    return decision;
  }
}
