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
  options: {
    periodMs: number;
    gracePeriods: number;
    startedAt: number;
    takeoverGraceMs?: number;
    /** Nodes that said they are restarting are not down before this time (ms), whatever their silence. */
    holdUntil?: ReadonlyMap<string, number>;
  },
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
    return expiredNodes(this.lastBeat, nodeIds, this.options.now(), {
      periodMs: this.options.periodMs,
      gracePeriods: this.options.gracePeriods,
      startedAt: this.startedAt,
      holdUntil: this.restarting,
      ...(this.options.takeoverGraceMs === undefined ? {} : { takeoverGraceMs: this.options.takeoverGraceMs }),
    });
  }
}
