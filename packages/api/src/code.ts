/**
 * What kind of failure an error is: gRPC's status codes, by connect-es's names, with gRPC's numbers (so a code
 * crosses the wire as itself). Callers branch on the code; the message says what to do next.
 */
export enum Code {
  /** The operation was cancelled, typically by the caller. */
  Canceled = 1,
  /** Nothing better is known (an error from elsewhere that was not classified). */
  Unknown = 2,
  /** The request itself is wrong (a bad name, flag, file or reference): fix it, then retry. */
  InvalidArgument = 3,
  /** The deadline passed before the operation finished. */
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  /** The caller is known but not allowed to do this. */
  PermissionDenied = 7,
  /** A quota or a size limit is used up. */
  ResourceExhausted = 8,
  /** The system is not in the state the operation needs: change that state first, retrying alone won't do. */
  FailedPrecondition = 9,
  /** A concurrent change got in the way (a failed compare, a lost fence): read again and retry. */
  Aborted = 10,
  OutOfRange = 11,
  /** This is not implemented or not supported. */
  Unimplemented = 12,
  /** An invariant broke: a bug, or something very wrong underneath. */
  Internal = 13,
  /** A service could not be reached or is not ready: retry with backoff. */
  Unavailable = 14,
  /** Data is lost or corrupted. */
  DataLoss = 15,
  /** No valid credentials (missing, refused, or a TLS peer that does not verify). */
  Unauthenticated = 16,
}
