export type { AdmissionRefusal } from './admission-refusal.js';
export { ADMISSION_REFUSED, admissionError, admissionRefusals } from './admission-refusal.js';
export { capabilityName, DEFAULT_CAPABILITIES } from './capabilities.js';
export { Code } from './code.js';
export type { FlotillaErrorOptions, GrpcStatus } from './flotilla-error.js';
export { FlotillaError, reasonGuard, toGrpcStatus } from './flotilla-error.js';
export * from './gen/flotilla/v1/common.js';
export * from './gen/flotilla/v1/control.js';
export * from './gen/flotilla/v1/dispatcher.js';
export * from './gen/flotilla/v1/objects.js';
export * from './gen/flotilla/v1/service.js';
export * from './gen/flotilla/v1/stack.js';
export type { HostPort } from './host-port.js';
export { formatHostPort, parseHostPort } from './host-port.js';
export { isId, newId } from './ids.js';
export type { JobProgress } from './job.js';
export { isGlobalMode, isJobMode, jobLimits, jobProgress } from './job.js';
export { checkReplicas, MAX_LOG_TAIL, MAX_REPLICAS } from './limits.js';
export type { LogDriverProblem, LogPolicy, SyslogTarget } from './log-driver.js';
export {
  HONOURED_LOG_DRIVERS,
  logPolicy,
  MAX_LOG_OPTION_LENGTH,
  MAX_LOG_OPTIONS,
  syslogAddress,
} from './log-driver.js';
export { isValidObjectName, OBJECT_NAME_PATTERN, qualify } from './naming.js';
export type { AttributeReader } from './node-attributes.js';
export { attributeReader, equalFold, normalizeArch } from './node-attributes.js';
export type { CompiledConstraint, CompiledPlatform } from './node-match.js';
export {
  compileConstraints,
  compilePlatforms,
  executorAllows,
  failedConstraint,
  firstFailedConstraint,
  nodeActive,
  nodeEligible,
  nodeMatches,
  PROCESS_EXECUTOR,
  platformFits,
  platformMatches,
} from './node-match.js';
export type {
  DisconnectPolicy,
  LeaderQuorumInput,
  NodeQuorumInput,
  NodeQuorumVerdict,
  PeerProbe,
} from './quorum.js';
export { fenceAfterMs, leaderMayReplace, MIN_SAMPLE, nodeQuorum, probeResponse, probeSample } from './quorum.js';
export { runsCurrentSpec } from './spec-version.js';
export type { TaskFile } from './task-files.js';
export { fileObjectIds, taskFileObjectIds, taskFiles, usesFiles } from './task-files.js';
export {
  taskEnded,
  taskFailed,
  taskHandedToNode,
  taskLive,
  taskMeantToRun,
  taskOccupiesNode,
  taskPending,
} from './task-rules.js';
export type { VolumeDriverProblem, VolumeMountSpec } from './volume-driver.js';
export {
  isBind,
  isLocalVolumeDriver,
  isNfs,
  mountVolumeSpec,
  nfsServer,
  VOLUME_DRIVER_LIMITS,
  volumeMountSpec,
} from './volume-driver.js';
