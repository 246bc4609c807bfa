export { formatCompose, toComposeObject } from './compose-output.js';
export { DEFAULTS } from './defaults.js';
export type { Diagnostic, DiagnosticCode, Location, StackErrorCode } from './diagnostics.js';
export { formatDiagnostic, formatDiagnostics, StackError, sortDiagnostics } from './diagnostics.js';
export { interpolateString } from './interpolate.js';
export { LIMITS } from './limits.js';
export type { FileSource, LoadedStack, LoadOptions } from './load.js';
export { fsSource, loadStack, loadStackText } from './load.js';
export type { NormalizedService, NormalizedStack } from './normalize.js';
export type { ObjectData } from './service-spec.js';
export { toStackSpec } from './service-spec.js';
export type { Constraint, ImageRef, PortMapping } from './values/index.js';
export {
  formatBytes,
  formatCpus,
  formatDuration,
  normalizeImageRef,
  parseBytes,
  parseConstraint,
  parseCpus,
  parseDuration,
  parseImageRef,
  ValueError,
} from './values/index.js';
