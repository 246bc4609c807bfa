import { Code, type ControlServiceServer, FlotillaError, type GrpcStatus, toGrpcStatus } from '@flotilla/api';
import { isEventsReason, type LogReader } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import { refuseWorkers } from '../handler.js';
import { LogSession, type LogSessionOptions } from './log-session.js';

export interface ServiceLogsOptions extends LogSessionOptions {
  /** Aborted when the manager stops: open calls end (a follow would otherwise keep the server from shutting down). */
  stopping?: AbortSignal;
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
  return (call) => {
    const cancelled = new AbortController();
    const stop = () => cancelled.abort();
    call.on('cancelled', stop);
    const abort = new AbortController();
    const end = () => abort.abort();
    cancelled.signal.addEventListener('abort', end, { once: true });
    options.stopping?.addEventListener('abort', end, { once: true });
    if (options.stopping?.aborted) end();
    Promise.resolve()
      .then(() => {
        refuseWorkers(call, ca);
        if (!reader) {
          throw new FlotillaError(
            Code.FailedPrecondition,
            'container logs are off: start the managers with --redis HOST:PORT (the agents ship logs there)',
          );
        }
        return new LogSession(store, reader, call, abort.signal, options).run();
      })
      .then(
        () => {
          if (cancelled.signal.aborted) return;
          if (options.stopping?.aborted) throw stoppingError();
          call.end();
        },
        (err: unknown) => {
          // A caller that went away is told nothing: what failed then is the reading it stopped.
          if (cancelled.signal.aborted) return;
          const failure = logStatus(options.stopping?.aborted ? stoppingError() : err);
          if (!(err instanceof FlotillaError)) options.logger?.error({ err }, 'service logs failed');
          call.emit('error', failure);
        },
      )
      .catch((err: unknown) => {
        if (!cancelled.signal.aborted) call.emit('error', logStatus(err));
      })
      .finally(() => {
        end();
        call.off('cancelled', stop);
        options.stopping?.removeEventListener('abort', end);
      });
  };
}

function stoppingError(): FlotillaError {
  return new FlotillaError(Code.Unavailable, 'the manager is stopping: run the command again to reach another one');
}

function logStatus(err: unknown): GrpcStatus {
  if (err instanceof FlotillaError && isEventsReason(err.reason)) {
    if (err.reason === 'invalid-argument') return toGrpcStatus(err);
    if (err.reason === 'auth' || err.reason === 'tls') {
      return toGrpcStatus(
        new FlotillaError(
          Code.FailedPrecondition,
          `the manager cannot read logs from Redis: ${err.message} (see the managers' --redis options)`,
        ),
      );
    }
    return toGrpcStatus(new FlotillaError(Code.Unavailable, `cannot read logs: ${err.message}`));
  }
  return toGrpcStatus(err);
}
