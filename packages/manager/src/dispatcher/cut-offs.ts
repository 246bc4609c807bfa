export interface CutOffOptions {
  /** How long a node cut off for the first time is refused a new session (ms). */
  firstMs: number;
  /** Each cut-off soon after another doubles the wait, up to this (ms). */
  maxMs: number;
  /** A node not cut off for this long starts again from the first wait; its record is then dropped (ms). */
  memoryMs: number;
  now: () => number;
}

interface CutOff {
  strikes: number;
  at: number;
  until: number;
  reason: string;
}

/**
 * Nodes whose sessions were cut off for flooding, and until when a new session of theirs is refused: a backoff
 * that doubles with each cut-off that follows another within `memoryMs`. One record per node cut off lately, no
 * more: records are dropped once forgotten (`prune`), or when the node is removed.
 */
export class CutOffs {
  private readonly byNode = new Map<string, CutOff>();

  constructor(private readonly options: CutOffOptions) {}

  /** Records a cut-off: how long the node's new sessions are refused (ms). */
  cut(nodeId: string, reason: string): number {
    const now = this.options.now();
    const last = this.byNode.get(nodeId);
    const strikes = last && now - last.at <= this.options.memoryMs ? last.strikes + 1 : 1;
    const waitMs = backoffMs(strikes, this.options);
    this.byNode.set(nodeId, { strikes, at: now, until: now + waitMs, reason });
    return waitMs;
  }

  /** While a node may not open a session: how long still, and why it was cut off. */
  refused(nodeId: string): { waitMs: number; reason: string } | undefined {
    const record = this.byNode.get(nodeId);
    const waitMs = record ? record.until - this.options.now() : 0;
    return record && waitMs > 0 ? { waitMs, reason: record.reason } : undefined;
  }

  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** Drops the records of nodes not cut off for `memoryMs`. */
  prune(): void {
    const now = this.options.now();
    for (const [nodeId, record] of this.byNode) {
      if (now >= record.until && now - record.at > this.options.memoryMs) this.byNode.delete(nodeId);
    }
  }

  get size(): number {
    return this.byNode.size;
  }
}

/** The wait after the n-th cut-off in a row: the first wait, doubled each time, capped. */
export function backoffMs(strikes: number, options: Pick<CutOffOptions, 'firstMs' | 'maxMs'>): number {
  const doublings = Math.min(Math.max(0, strikes - 1), 30);
  return Math.min(options.maxMs, options.firstMs * 2 ** doublings);
}
