/**
 * Which nodes have missed their heartbeats: a pure decision over the last beat of each node. A node is down
 * once it has been silent for `gracePeriods` heartbeat periods. Nodes the monitor has not heard from since it
 * started count from the start, so a manager that just took over does not mark healthy nodes down before their
 * agents have found it.
 */
export function expiredNodes(
  lastBeat: ReadonlyMap<string, number>,
  watched: Iterable<string>,
  now: number,
  options: { periodMs: number; gracePeriods: number; startedAt: number },
): string[] {
  const limit = options.periodMs * options.gracePeriods;
  const out: string[] = [];
  for (const nodeId of watched) {
    const last = Math.max(lastBeat.get(nodeId) ?? options.startedAt, options.startedAt);
    if (now - last > limit) out.push(nodeId);
  }
  return out;
}
