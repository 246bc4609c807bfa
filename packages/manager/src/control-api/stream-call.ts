import { X509Certificate } from 'node:crypto';
import { Code, FlotillaError, type GrpcStatus, toGrpcStatus } from '@flotilla/api';
import { isEventsReason } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { CallWithAuth } from '../peer-identity.js';
import { refuseWorkers } from './handler.js';

/**
 * The control API's long calls (`logs -f`, `events -f`) that are open now, each with the certificate it was opened
 * with. A revocation is checked against calls already open, not only new ones: a revoked operator's follow ends.
 */
export class OpenStreams {
  private readonly open = new Map<AbortController, X509Certificate>();

  constructor(private readonly ca: CertificateAuthority) {}

  /** How many calls are open. */
  get size(): number {
    return this.open.size;
  }

  /** Follows a call: `revoked` is aborted once its certificate is refused; release() when the call ends. */
  track(call: CallWithAuth): { revoked: AbortSignal; release(): void } {
    const revoked = new AbortController();
    const raw = call.getAuthContext().sslPeerCertificate?.raw;
    if (raw) this.open.set(revoked, new X509Certificate(raw));
    return { revoked: revoked.signal, release: () => this.open.delete(revoked) };
  }

  /** Checks every open call's certificate again (after a revocation); ends those the CA refuses now. */
  recheck(): number {
    let ended = 0;
    for (const [revoked, cert] of this.open) {
      try {
        this.ca.verify(cert);
      } catch {
        // Refused now: the call ends with a refusal (the caller is told why by the call's end, not here).
        this.open.delete(revoked);
        revoked.abort();
        ended++;
      }
    }
    return ended;
  }
}

export interface StreamCallOptions {
  ca: CertificateAuthority;
  /** What the call reads, for its errors: "logs", "events". */
  what: string;
  /** Aborted when the manager stops: open calls end (a follow would otherwise keep the server from shutting down). */
  stopping?: AbortSignal | undefined;
  streams?: OpenStreams | undefined;
  logger?: Logger | undefined;
}

/**
 * Runs a server-streaming control call: refuses workers, then `body` until it ends, the caller cancels, the manager
 * stops or the caller's certificate is revoked (each aborts the signal `body` gets); ends the call with the status
 * that says which.
 */
export function streamCall<Req, Res>(
  call: ServerWritableStream<Req, Res>,
  options: StreamCallOptions,
  body: (signal: AbortSignal) => Promise<void>,
): void {
  const { stopping, streams } = options;
  const cancelled = new AbortController();
  const stop = () => cancelled.abort();
  call.on('cancelled', stop);
  const tracked = streams?.track(call);
  const abort = new AbortController();
  const end = () => abort.abort();
  for (const signal of [cancelled.signal, stopping, tracked?.revoked]) {
    signal?.addEventListener('abort', end, { once: true });
  }
  if (stopping?.aborted) end();
  const failure = (err: unknown): GrpcStatus => {
    if (tracked?.revoked.aborted) {
      return toGrpcStatus(
        new FlotillaError(Code.PermissionDenied, 'the certificate of this call was revoked', { reason: 'revoked' }),
      );
    }
    return streamStatus(stopping?.aborted ? stoppingError() : err, options.what);
  };
  Promise.resolve()
    .then(() => {
      refuseWorkers(call, options.ca);
      return body(abort.signal);
    })
    .then(
      () => {
        if (cancelled.signal.aborted) return;
        if (stopping?.aborted || tracked?.revoked.aborted) {
          call.emit('error', failure(undefined));
          return;
        }
        call.end();
      },
      (err: unknown) => {
        // A caller that went away is told nothing: what failed then is the reading it stopped.
        if (cancelled.signal.aborted) return;
        if (!(err instanceof FlotillaError)) options.logger?.error({ err }, `${options.what} failed`);
        call.emit('error', failure(err));
      },
    )
    .catch((err: unknown) => {
      if (!cancelled.signal.aborted) call.emit('error', streamStatus(err, options.what));
    })
    .finally(() => {
      end();
      tracked?.release();
      call.off('cancelled', stop);
      stopping?.removeEventListener('abort', end);
    });
}

function stoppingError(): FlotillaError {
  return new FlotillaError(Code.Unavailable, 'the manager is stopping: run the command again to reach another one');
}

/** A stream's failure as the caller is told it: Redis' own refusals point at the managers' options. */
function streamStatus(err: unknown, what: string): GrpcStatus {
  if (err instanceof FlotillaError && isEventsReason(err.reason)) {
    if (err.reason === 'invalid-argument') return toGrpcStatus(err);
    if (err.reason === 'auth' || err.reason === 'tls') {
      return toGrpcStatus(
        new FlotillaError(
          Code.FailedPrecondition,
          `the manager cannot read ${what} from Redis: ${err.message} (see the managers' --redis options)`,
        ),
      );
    }
    return toGrpcStatus(new FlotillaError(Code.Unavailable, `cannot read ${what}: ${err.message}`));
  }
  return toGrpcStatus(err);
}
