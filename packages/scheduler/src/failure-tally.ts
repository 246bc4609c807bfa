import type { Filter } from './filter.js';

export const NO_NODES_MESSAGE = 'no suitable node (no nodes in the cluster)';

/**
 * Counts, per filter and detail, the nodes that failed first at that filter, and says it as Swarm does:
 * `no suitable node (insufficient memory on 3 nodes; constraint node.labels.zone==b on 2 nodes; 1 node not ready)`.
 */
export class FailureTally {
  private readonly counts = new Map<Filter, Map<string, number>>();

  constructor(private readonly filters: readonly Filter[]) {}

  add(filter: Filter, detail: string, count = 1): void {
    let details = this.counts.get(filter);
    if (details === undefined) {
      details = new Map();
      this.counts.set(filter, details);
    }
    details.set(detail, (details.get(detail) ?? 0) + count);
  }

  /** A copy to add a group's dynamic failures to, leaving a cached static tally as it was. */
  clone(): FailureTally {
    const copy = new FailureTally(this.filters);
    for (const [filter, details] of this.counts) copy.counts.set(filter, new Map(details));
    return copy;
  }

  /** Most nodes first; then pipeline order and detail, so the message is the same for the same input. */
  message(): string {
    const parts: { filter: Filter; order: number; detail: string; count: number }[] = [];
    for (const [filter, details] of this.counts) {
      for (const [detail, count] of details) parts.push({ filter, order: this.filters.indexOf(filter), detail, count });
    }
    if (parts.length === 0) return NO_NODES_MESSAGE;
    parts.sort(
      (a, b) => b.count - a.count || a.order - b.order || (a.detail < b.detail ? -1 : a.detail > b.detail ? 1 : 0),
    );
    return `no suitable node (${parts.map((p) => p.filter.explain(p.detail, p.count)).join('; ')})`;
  }
}
