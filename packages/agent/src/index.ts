export type { AgentOptions, RunningAgent } from './agent.js';
export { startAgent } from './agent.js';
export type { NodeCredentials } from './join.js';
export { fetchCaCertificate, joinCluster, loadCredentials, saveCredentials } from './join.js';
export type { SessionOptions } from './session.js';
export { AgentSession, LEADER_METADATA_KEY, MAX_RECONNECT_BACKOFF_MS } from './session.js';
