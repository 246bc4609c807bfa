export type { AgentOptions, ExecutorContext, RunningAgent } from './agent.js';
export { startAgent } from './agent.js';
export type { CertificateRenewerOptions } from './certificate-renewer.js';
export { CertificateRenewer } from './certificate-renewer.js';
export type { ContainerdExecutorOptions } from './executor/containerd/containerd-executor.js';
export { ContainerdExecutor } from './executor/containerd/containerd-executor.js';
export type { ImageSource, LocalImage, RegistryImage } from './executor/containerd/image-store.js';
export { RegistrySource } from './executor/containerd/registry-source.js';
export type { ExecResult, Executor, Exit, Progress, TaskOutput } from './executor/executor.js';
export { RejectedError } from './executor/executor.js';
export type { ChosenExecutor, ExecutorKind, RuntimeOptions } from './executor/executor-choice.js';
export { chooseExecutor } from './executor/executor-choice.js';
export { LineSplitter, MAX_LINE_LENGTH } from './executor/line-splitter.js';
export type { ProcessExecutorOptions } from './executor/process/process-executor.js';
export { ProcessExecutor } from './executor/process/process-executor.js';
export type { FenceDecision, FenceInput, FenceTask, FenceVerdict, NodeFenceOptions, SilenceInput } from './fencing.js';
export { disconnectPolicy, FENCE_VERDICTS, fenceDecision, hearsNoLeader, NodeFence, PROBE_LEAD_MS } from './fencing.js';
export type { NodeCredentials } from './join.js';
export { fetchCaCertificate, joinCluster, loadCredentials, saveCertificate, saveCredentials } from './join.js';
export { NodeCertificates } from './node-certificates.js';
export type { PeerProberOptions } from './peer-prober.js';
export { PeerProber } from './peer-prober.js';
export type { PeerCertificates, PeerServer, ProbeAnswer, ProbeCall } from './peer-service.js';
export { PeerCaller, servePeers } from './peer-service.js';
export type { QuorumWatchOptions, SessionView } from './quorum-watch.js';
export { QuorumWatch } from './quorum-watch.js';
export type { SessionOptions } from './session.js';
export {
  AgentSession,
  DESCRIPTION_METADATA_KEY,
  LEADER_METADATA_KEY,
  MAX_RECONNECT_BACKOFF_MS,
  MAX_UNREAD_BATCHES,
} from './session.js';
export type {
  LogShipper,
  LogShipperFactory,
  ShipperStats,
  TaskLogsOptions,
  TaskLogsStats,
} from './task-logs.js';
export { parseRedisAddress, redisUrl, TaskLogs } from './task-logs.js';
export type { WorkerOptions } from './worker.js';
export { Worker } from './worker.js';
