import { Code, type ControlServiceServer, FlotillaError } from '@flotilla/api';
import type { LogReader } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import { type OpenStreams, streamCall } from '../stream-call.js';
import { LogSession, type LogSessionOptions } from './log-session.js';

export interface ServiceLogsOptions extends LogSessionOptions {
  /** Aborted when the manager stops: open calls end (a follow would otherwise keep the server from shutting down). */
  stopping?: AbortSignal;
  /** The long calls open now: a revoked caller's follow ends. */
  streams?: OpenStreams;
  logger?: Logger;
}

/**
 * `ServiceLogs`: what a service's tasks (or one task) printed, read from the per-task Redis streams the agents
 * write. Any manager serves it (it only reads etcd and Redis). Stored lines come first, merged across tasks by
 * time; with `follow`, new lines of every task then come as they arrive, tasks started meanwhile included, until
 * the caller goes away.
 */
export function serviceLogs(
  store: Store,
  ca: CertificateAuthority,
  reader: LogReader | undefined,
  options: ServiceLogsOptions = {},
): ControlServiceServer['serviceLogs'] {
  const { stopping, streams, logger } = options;
  return (call) =>
    streamCall(call, { ca, what: 'logs', stopping, streams, logger }, (signal) => {
      if (!reader) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          'container logs are off: start the managers with --redis HOST:PORT (the agents ship logs there)',
        );
      }
      return new LogSession(store, reader, call, signal, options).run();
    });
}
