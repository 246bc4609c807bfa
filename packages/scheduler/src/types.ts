import type { Node, Task } from '@flotilla/api';

export type Strategy = 'spread' | 'binpack';

export interface PlacementInput {
  /** Every node in the cluster. */
  nodes: Node[];
  /**
   * Tasks on nodes that still count (assigned to running, not terminal): they reserve resources, hold host ports,
   * and count for spread, max_replicas_per_node and load.
   */
  running: Task[];
  /** Tasks to place now. One with nodeId set is pinned (global services): only that node is considered. */
  pending: Task[];
  /** Default spread. */
  strategy?: Strategy;
  /** Breaks ties: the same input and seed give the same output. Default 0. */
  seed?: number;
}

export interface PlaceOptions {
  strategy?: Strategy;
  seed?: number;
}

export interface PlacementDecision {
  taskId: string;
  nodeId: string;
}

export interface Unplaced {
  taskId: string;
  message: string;
}

export interface PlacementResult {
  assigned: PlacementDecision[];
  unplaced: Unplaced[];
}
