import { Code, FlotillaError } from '@flotilla/api';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';

/**
 * The reasons the store puts on its FlotillaErrors, both Aborted: callers retry a conflict on fresh state, while
 * a fenced manager is no longer the leader and must stop writing. Other failures are told by their code alone:
 * NotFound, Unavailable (etcd unreachable: back off and retry), PermissionDenied (fix the TLS certificates or the
 * user and password), ResourceExhausted (larger than etcd accepts), Internal.
 */
export type StoreReason =
  /** A compare failed: the object changed (or appeared, or went away) since it was read. Retry on fresh state. */
  | 'conflict'
  /** The write carried a leadership fence that no longer holds: this manager is not the leader any more. */
  | 'fenced';

/** A failed etcd call as a FlotillaError with a message that says what to do. */
export function etcdFailure(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    err instanceof ClientClosedError
  ) {
    return new FlotillaError(
      Code.Unavailable,
      `the cluster store (etcd) is unreachable (${message}): try again once etcd answers`,
      { cause: err },
    );
  }
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdInvalidAuthTokenError ||
    err instanceof GRPCUnauthenticatedError
  ) {
    return new FlotillaError(
      Code.PermissionDenied,
      `etcd refused the request (${message}): check the user and password`,
      { cause: err },
    );
  }
  if (err instanceof GRPCResourceExhastedError || /request is too large|too many operations/i.test(message)) {
    return new FlotillaError(Code.ResourceExhausted, `etcd refused the request as too large (${message})`, {
      cause: err,
    });
  }
  return new FlotillaError(Code.Internal, `etcd request failed: ${message}`, { cause: err });
}
