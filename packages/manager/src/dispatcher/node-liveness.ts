import { leaderMayReplace, NodeStatus_State } from '@flotilla/api';

export interface ExpiryOptions {
  periodMs: number;
  gracePeriods: number;
  startedAt: number;
  takeoverGraceMs?: number;
  /** Nodes that said they are restarting are not down before this time (ms), whatever their silence. */
  holdUntil?: ReadonlyMap<string, number> | undefined;
}

/**
 * Which nodes have missed their heartbeats: a pure decision over the last beat of each node. A node is down
 * once it has been silent for `gracePeriods` heartbeat periods. Nodes the monitor has not heard from since it
 * started count from the start and get at least `takeoverGraceMs`, so a manager that just took over does not mark
 * healthy nodes down while their agents are still finding it.
 */
export function expiredNodes(
  lastBeat: ReadonlyMap<string, number>,
  watched: Iterable<string>,
  now: number,
  options: ExpiryOptions,
): string[] {
  const limit = options.periodMs * options.gracePeriods;
  const takeover = Math.max(limit, options.takeoverGraceMs ?? 0);
  const out: string[] = [];
  for (const nodeId of watched) {
    if (now < (options.holdUntil?.get(nodeId) ?? 0)) continue;
    const last = lastBeat.get(nodeId);
    const silent = last === undefined || last < options.startedAt;
    if (silent ? now - options.startedAt > takeover : now - last > limit) out.push(nodeId);
  }
  return out;
}

/** A node as the liveness check reads it from the store: its state and whether it ever heartbeat. */
export interface WatchedNode {
  id: string;
  state: NodeStatus_State;
  /** The last heartbeat written with its status (0: it never held a session). */
  lastHeartbeatMs: bigint;
}

/** Which silent nodes to mark, and as what. */
export interface LostNodes {
  nodeIds: string[];
  state: NodeStatus_State.STATE_DOWN | NodeStatus_State.STATE_UNKNOWN;
  message: string;
}

/**
 * The leader's verdict on the nodes that went silent past the grace (the quorum rule, see leaderMayReplace): down,
 * so that their tasks are replaced, while the voters it hears are a strict majority; otherwise unknown, because
 * it may itself be on the side that is cut off, and it replaces nothing. The voters are every node in the store
 * and the live managers; it hears the managers (itself included) and the nodes that beat within the last
 * `gracePeriods - 1` periods (at least one). That is shorter than the grace on purpose: nodes cut off together
 * fall silent within one period of each other, and when the first of them expires the others must already count
 * as not heard. A node not heard since this leader started is not heard either. A node marked unknown is watched
 * still, and becomes down once a majority is heard again. `managers` undefined: the rule is off, silent nodes are
 * down.
 */
export function lostNodes(
  lastBeat: ReadonlyMap<string, number>,
  nodes: readonly WatchedNode[],
  now: number,
  options: ExpiryOptions & { managers?: number; majoritySince?: number | undefined },
): LostNodes {
  const watched = nodes.filter(watchedByLiveness).map((n) => n.id);
  const expired = expiredNodes(lastBeat, watched, now, options);
  const down = { nodeIds: expired, state: NodeStatus_State.STATE_DOWN, message: 'heartbeat failure' } as const;
  if (options.managers === undefined || expired.length === 0) return down;
  const { voters, heard } = heardVoters(lastBeat, nodes, now, { ...options, managers: options.managers });
  let message = `not replaced: only ${heard} of ${voters} voters heard`;
  if (leaderMayReplace({ voters, heard }).replace) {
    // A majority heard only just now (a new leader's first sessions, a partition healing) may not have reached the
    // nodes cut off yet: those learn it from their peers within a probe round (under a second) and fence within
    // their timeout (below the grace); the grace and one period more give them that.
    const settleMs = options.periodMs * (options.gracePeriods + 1);
    const settled = options.majoritySince !== undefined && now - options.majoritySince > settleMs;
    if (settled) return down;
    message = `not replaced yet: a majority (${heard} of ${voters} voters) heard only just now`;
  }
  const unknown = new Set(nodes.filter((n) => n.state === NodeStatus_State.STATE_UNKNOWN).map((n) => n.id));
  return { nodeIds: expired.filter((id) => !unknown.has(id)), state: NodeStatus_State.STATE_UNKNOWN, message };
}

/**
 * How many voters there are (every node in the store and the live managers) and how many the leader hears: the
 * managers (itself included) and the nodes that beat within the last `gracePeriods - 1` periods this term.
 */
export function heardVoters(
  lastBeat: ReadonlyMap<string, number>,
  nodes: readonly WatchedNode[],
  now: number,
  options: Pick<ExpiryOptions, 'periodMs' | 'gracePeriods' | 'startedAt'> & { managers: number },
): { voters: number; heard: number } {
  const heardWithin = options.periodMs * Math.max(1, options.gracePeriods - 1);
  const heardNodes = nodes.filter((n) => {
    const last = lastBeat.get(n.id);
    return last !== undefined && last >= options.startedAt && now - last <= heardWithin;
  }).length;
  return { voters: nodes.length + options.managers, heard: heardNodes + options.managers };
}

/**
 * Nodes that were up (ready, or their session just closed) or were marked unknown after they went silent. A node
 * that joined but never opened a session stays unknown, and a down one stays down until it comes back.
 */
function watchedByLiveness(node: WatchedNode): boolean {
  return (
    node.state === NodeStatus_State.STATE_READY ||
    node.state === NodeStatus_State.STATE_DISCONNECTED ||
    (node.state === NodeStatus_State.STATE_UNKNOWN && node.lastHeartbeatMs > 0n)
  );
}

/** The longest an agent that said it is restarting keeps its node from being marked down. */
const MAX_RESTART_WAIT_MS = 60_000;
/** How soon after its goodbye an agent's session must end for the goodbye to count. */
const GOODBYE_CLOSE_MS = 5_000;

export interface HeartbeatOptions {
  periodMs: number;
  gracePeriods: number;
  takeoverGraceMs?: number;
  now: () => number;
}

/** What the dispatcher heard from each node (its last heartbeat, a goodbye before a restart): who is down. */
export class Heartbeats {
  private readonly lastBeat = new Map<string, number>();
  /** Nodes whose agent said goodbye to restart: not marked down before this time. */
  private readonly restarting = new Map<string, number>();
  private readonly startedAt: number;
  /** Since when this leader has heard a strict majority of the voters without a break (undefined: it does not). */
  private majoritySince: number | undefined;

  constructor(private readonly options: HeartbeatOptions) {
    this.startedAt = options.now();
  }

  /** A session opened: the node counts as heard from now. */
  opened(nodeId: string): void {
    this.lastBeat.set(nodeId, this.options.now());
  }

  /** A heartbeat: the node is alive, and back if it was restarting. */
  beat(nodeId: string): void {
    this.lastBeat.set(nodeId, this.options.now());
    this.restarting.delete(nodeId);
  }

  /** A node removed from the cluster: nothing is kept about it. */
  forget(nodeId: string): void {
    this.lastBeat.delete(nodeId);
    this.restarting.delete(nodeId);
  }

  /**
   * Drops the restart holds of nodes not in `nodeIds` (removed while a goodbye was under way). Last heartbeats
   * are dropped only by `forget`: a node the store's cache does not show yet may already beat.
   */
  retain(nodeIds: ReadonlySet<string>): void {
    for (const nodeId of this.restarting.keys()) if (!nodeIds.has(nodeId)) this.restarting.delete(nodeId);
  }

  /** Nodes something is kept about (at most every node of the store, once removed nodes are forgotten). */
  get size(): number {
    return new Set([...this.lastBeat.keys(), ...this.restarting.keys()]).size;
  }

  /** When the node last heartbeat (0: never). */
  last(nodeId: string): number {
    return this.lastBeat.get(nodeId) ?? 0;
  }

  /** What a goodbye says: when, and how long to wait for the agent (bounded). */
  goodbye(backWithinMs: bigint): { at: number; waitMs: number } {
    return { at: this.options.now(), waitMs: Math.min(Math.max(Number(backWithinMs), 0), MAX_RESTART_WAIT_MS) };
  }

  /**
   * A session closed: a goodbye holds the node only when the session ends right after it, as a stopping agent's
   * does; an agent that says goodbye and carries on (wedged, or misbehaving) gains nothing by it. True when the
   * node is waited for as restarting.
   */
  closed(nodeId: string, goodbye: { at: number; waitMs: number } | undefined): boolean {
    const now = this.options.now();
    if (goodbye && now - goodbye.at <= GOODBYE_CLOSE_MS) this.restarting.set(nodeId, now + goodbye.waitMs);
    return this.restarting.has(nodeId);
  }

  /** The nodes among `nodeIds` that have been silent past the grace. */
  expired(nodeIds: Iterable<string>): string[] {
    return expiredNodes(this.lastBeat, nodeIds, this.options.now(), this.expiry());
  }

  /**
   * The silent nodes to mark, and as what, given every node in the store and the live managers (see lostNodes).
   * Called each liveness round, it also notes since when the leader has heard a majority without a break.
   */
  lost(nodes: readonly WatchedNode[], managers: number | undefined): LostNodes {
    const now = this.options.now();
    if (managers !== undefined) {
      const count = heardVoters(this.lastBeat, nodes, now, { ...this.expiry(), managers });
      if (!leaderMayReplace(count).replace) this.majoritySince = undefined;
      else this.majoritySince ??= now;
    }
    return lostNodes(this.lastBeat, nodes, now, {
      ...this.expiry(),
      ...(managers === undefined ? {} : { managers, majoritySince: this.majoritySince }),
    });
  }

  private expiry(): ExpiryOptions {
    return {
      periodMs: this.options.periodMs,
      gracePeriods: this.options.gracePeriods,
      startedAt: this.startedAt,
      holdUntil: this.restarting,
      ...(this.options.takeoverGraceMs === undefined ? {} : { takeoverGraceMs: this.options.takeoverGraceMs }),
    };
  }
}
