export { ClusterSnapshot } from './cluster-snapshot.js';
export { placeTasks } from './place-tasks.js';
export type { SchedulerLoopOptions } from './scheduler-loop.js';
export { SchedulerLoop } from './scheduler-loop.js';
export type {
  PlacementDecision,
  PlacementInput,
  PlacementResult,
  PlaceOptions,
  Strategy,
  Unplaced,
} from './types.js';
