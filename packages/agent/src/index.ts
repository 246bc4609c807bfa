export type { NodeCredentials } from './join.js';
export { fetchCaCertificate, joinCluster, loadCredentials, saveCredentials } from './join.js';
