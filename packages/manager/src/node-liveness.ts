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
