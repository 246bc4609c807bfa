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

export type StoreErrorCode =
  /** A compare failed: the object changed (or appeared, or went away) since it was read. Retry on fresh state. */
  | 'conflict'
  | 'not-found'
  /** The write carried a leadership fence that no longer holds: this manager is not the leader any more. */
  | 'fenced'
  /** etcd could not be reached in time. Back off and retry. */
  | 'unavailable'
  /** etcd refused the credentials or the permission: fix the TLS certificates or the user and password. */
  | 'denied'
  /** One object or one transaction is larger than etcd accepts. */
  | 'too-large'
  | 'internal';

/** The one error class of the store: a typed code callers branch on, and a message that says what to do. */
export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static from(err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (
      err instanceof GRPCUnavailableError ||
      err instanceof GRPCDeadlineExceededError ||
      err instanceof ClientClosedError
    ) {
      return new StoreError(
        'unavailable',
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
      return new StoreError('denied', `etcd refused the request (${message}): check the user and password`, {
        cause: err,
      });
    }
    if (err instanceof GRPCResourceExhastedError || /request is too large|too many operations/i.test(message)) {
      return new StoreError('too-large', `etcd refused the request as too large (${message})`, { cause: err });
    }
    return new StoreError('internal', `etcd request failed: ${message}`, { cause: err });
  }
}
