export { allocationKey } from './allocation-keys.js';
export type { AllocatorPlan, AllocatorState, PlanOptions } from './allocator.js';
export { ingressPorts, planAllocations } from './allocator.js';
export type { AllocatorLoopOptions } from './allocator-loop.js';
export { AllocatorLoop } from './allocator-loop.js';
export type { Pools } from './pools.js';
export { DEFAULT_POOLS, INGRESS_NETWORK } from './pools.js';
export type { ViewSources } from './view.js';
export { NetworkViews, taskReady } from './view.js';
