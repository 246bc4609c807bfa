export { BoundedBuffer } from './bounded-buffer.js';
export type { RedisConnectionOptions, RedisTlsOptions, TlsIdentity } from './connection.js';
export { connectRedis, disconnect as disconnectRedis, redisOptions, whenReady } from './connection.js';
export type {
  CaRotationEvent,
  CertificateRenewedEvent,
  CertificateRevokedEvent,
  CertificateRole,
  EventInput,
  FlotillaEvent,
  FlotillaEventType,
  LeaderChangedEvent,
  NodeAvailabilityEvent,
  NodeAvailabilityName,
  NodeDownEvent,
  NodeDownState,
  NodeUpEvent,
  ServiceAction,
  ServiceChangedEvent,
  ServiceUpdateEvent,
  TaskStateEvent,
  TaskStateName,
  UpdateStateName,
} from './event.js';
export {
  CA_ROTATION_PHASES,
  CERTIFICATE_ROLES,
  decodeEntry,
  EVENT_FIELD,
  EVENT_TYPES,
  encodeEvent,
  NODE_AVAILABILITIES,
  NODE_DOWN_STATES,
  SERVICE_ACTIONS,
  TASK_STATES,
  UPDATE_STATES,
  validateEvent,
} from './event.js';
export type { EventLogOptions } from './event-log.js';
export { EventLog } from './event-log.js';
export type { EventReaderOptions, StoredEvent } from './event-reader.js';
export { EventReader } from './event-reader.js';
export { EVENTS_KEY, LOGS_KEY_PREFIX, logKey, nodeLogPattern } from './keys.js';
export type { LogLine, LogReaderOptions, LogTailOptions } from './log-reader.js';
export { LogReader } from './log-reader.js';
export type { LogShipperOptions } from './log-shipper.js';
export { redisLogShipper } from './log-shipper.js';
export type { LogSinkOptions, LogStream } from './log-sink.js';
export { LOG_FIELDS, LogSink } from './log-sink.js';
export type { EventsLogger } from './logger.js';
export {
  deleteNodeUser,
  NODE_USER_PREFIX,
  nodePassword,
  nodeUserIds,
  nodeUserName,
  setNodeUser,
} from './node-users.js';
export type { EventsReason } from './redis-failure.js';
export { EVENTS_REASONS, isEventsReason, redisFailure } from './redis-failure.js';
export { compareStreamIds, parseStreamId, previousStreamId } from './stream-id.js';
export type { StreamWriterOptions, WriterStats } from './stream-writer.js';
