import { ClusterSnapshot } from './cluster-snapshot.js';
import type { PlacementInput, PlacementResult } from './types.js';

/** Places `pending` on `nodes` given what `running` already takes. Pure: the same input and seed, the same result. */
export function placeTasks(input: PlacementInput): PlacementResult {
  const snapshot = new ClusterSnapshot(input.nodes, input.running);
  return snapshot.place(input.pending, { strategy: input.strategy ?? 'spread', seed: input.seed ?? 0 });
}
