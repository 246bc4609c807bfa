export type { ManagerIdentity } from './cluster-bootstrap.js';
export { bootstrapCluster, CLUSTER_KEY, DEFAULT_SETTINGS } from './cluster-bootstrap.js';
export type { DispatcherOptions } from './dispatcher-service.js';
export { Dispatcher } from './dispatcher-service.js';
export { joinService } from './join-service.js';
export type { ManagerOptions, RunningManager } from './manager.js';
export { startManager } from './manager.js';
export { expiredNodes } from './node-liveness.js';
export { managerCredentials } from './server-credentials.js';
