import type { NodeState } from './node-state.js';
import type { Strategy } from './types.js';

/** Orders candidate nodes, best first; the seeded rank breaks every tie, so the order is total. */
export type NodeOrder = (a: NodeState, b: NodeState) => number;

/** Spread (Swarm's default): fewest tasks of this service, then the least loaded node. */
export const spreadOrder: NodeOrder = (a, b) => a.svc - b.svc || a.tasks - b.tasks || a.rank - b.rank;

/** Binpack: the fullest node that still fits (most reserved, then most tasks), to keep other nodes empty. */
export const binpackOrder: NodeOrder = (a, b) => b.pack - a.pack || b.tasks - a.tasks || a.rank - b.rank;

export function orderFor(strategy: Strategy): NodeOrder {
  return strategy === 'binpack' ? binpackOrder : spreadOrder;
}
