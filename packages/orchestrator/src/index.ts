export { reconcileGlobal } from './global.js';
export type { OrchestratorOptions } from './orchestrator-loop.js';
export { Orchestrator } from './orchestrator-loop.js';
export type { Plan, ReconcileContext } from './plan.js';
export { hasEnded, isLive } from './plan.js';
export { reconcileReplicated } from './replicated.js';
export type { RestartDecision } from './restart.js';
export { restartDecision, restartDelayMs } from './restart.js';
