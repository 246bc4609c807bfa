export type { ManagerIdentity } from './cluster-bootstrap.js';
export { bootstrapCluster, CLUSTER_KEY, DEFAULT_SETTINGS } from './cluster-bootstrap.js';
export { joinService } from './join-service.js';
export { managerCredentials } from './server-credentials.js';
