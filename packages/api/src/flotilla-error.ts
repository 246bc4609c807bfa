import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { Code } from './code.js';

export interface FlotillaErrorOptions {
  cause?: unknown;
  /**
   * The package's own word for the failure when callers need more than the code: the store's `conflict` and
   * `fenced` are both Aborted, a registry's `digest-mismatch` is DataLoss. Each package lists its reasons.
   */
  reason?: string | undefined;
}

/**
 * Flotilla's one error type (after connect-es's ConnectError): a code callers branch on, a message that says
 * what to do next, and optionally a finer reason and a cause. gRPC statuses become one at the client
 * (`FlotillaError.from`) and one becomes a status at the server (`toGrpcStatus`), both through the table below.
 */
export class FlotillaError extends Error {
  override readonly name = 'FlotillaError';
  readonly code: Code;
  readonly reason: string | undefined;

  constructor(code: Code, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
  }

  /**
   * Any thrown value as a FlotillaError: a FlotillaError as it is; a gRPC error with its status mapped, the
   * server's message and its reason; an abort as Canceled, a timeout as DeadlineExceeded; a Node system error
   * (ENOENT, EADDRINUSE…) by its errno name; anything else wrapped with the `fallback` code and its own message.
   */
  static from(thrown: unknown, fallback: Code = Code.Unknown): FlotillaError {
    if (thrown instanceof FlotillaError) return thrown;
    if (isServiceError(thrown)) {
      const [sent] = thrown.metadata?.get(REASON_KEY) ?? [];
      return new FlotillaError(codeOfStatus(thrown.code), thrown.details || thrown.message, {
        cause: thrown,
        reason: typeof sent === 'string' ? sent : undefined,
      });
    }
    if (thrown instanceof Error) {
      const code =
        thrown.name === 'AbortError'
          ? Code.Canceled
          : thrown.name === 'TimeoutError'
            ? Code.DeadlineExceeded
            : (SYSTEM_ERRORS[systemErrorName(thrown)] ?? fallback);
      return new FlotillaError(code, thrown.message, { cause: thrown });
    }
    return new FlotillaError(fallback, String(thrown), { cause: thrown });
  }
}

/** The status a gRPC server sends for a failure: what a FlotillaError is on the wire. */
export interface GrpcStatus {
  code: status;
  details: string;
  metadata: Metadata;
}

/**
 * What a gRPC server sends for a failure: a FlotillaError's code, message and reason (as a trailer). Anything
 * else is a bug or a failure nobody classified: Internal with `hidden` as the message, so no internals leak to
 * the caller (log it where it is caught).
 */
export function toGrpcStatus(thrown: unknown, hidden = 'internal error'): GrpcStatus {
  const err = thrown instanceof FlotillaError ? thrown : new FlotillaError(Code.Internal, hidden);
  const metadata = new Metadata();
  if (err.reason) metadata.set(REASON_KEY, err.reason);
  return { code: GRPC_STATUS[err.code], details: boundDetails(err.message), metadata };
}

/**
 * The most characters of a message a status carries. It travels in an HTTP/2 trailer: one of 100 kB (a message
 * quoting a huge name the caller sent) breaks the caller's whole connection instead of failing one call.
 */
export const MAX_STATUS_DETAILS = 4_096;

function boundDetails(message: string): string {
  return message.length > MAX_STATUS_DETAILS ? `${message.slice(0, MAX_STATUS_DETAILS - 1)}…` : message;
}

/**
 * A test for one package's reasons (the store's, cluster security's, the event log's), from the list that
 * declares them: whether an error's reason came from that package.
 */
export function reasonGuard<const T extends readonly string[]>(
  reasons: T,
): (reason: string | undefined) => reason is T[number] {
  return (reason): reason is T[number] => reason !== undefined && reasons.includes(reason);
}

/** The trailer that carries a FlotillaError's reason, so the client's error has it too. */
const REASON_KEY = 'flotilla-reason';

const GRPC_STATUS: Record<Code, status> = {
  [Code.Canceled]: status.CANCELLED,
  [Code.Unknown]: status.UNKNOWN,
  [Code.InvalidArgument]: status.INVALID_ARGUMENT,
  [Code.DeadlineExceeded]: status.DEADLINE_EXCEEDED,
  [Code.NotFound]: status.NOT_FOUND,
  [Code.AlreadyExists]: status.ALREADY_EXISTS,
  [Code.PermissionDenied]: status.PERMISSION_DENIED,
  [Code.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [Code.FailedPrecondition]: status.FAILED_PRECONDITION,
  [Code.Aborted]: status.ABORTED,
  [Code.OutOfRange]: status.OUT_OF_RANGE,
  [Code.Unimplemented]: status.UNIMPLEMENTED,
  [Code.Internal]: status.INTERNAL,
  [Code.Unavailable]: status.UNAVAILABLE,
  [Code.DataLoss]: status.DATA_LOSS,
  [Code.Unauthenticated]: status.UNAUTHENTICATED,
};

const CODE_OF_STATUS = new Map<number, Code>(
  Object.entries(GRPC_STATUS).map(([code, grpc]) => [grpc, Number(code) as Code]),
);

/** A status a server sent; OK or a number gRPC does not define (no error should carry either) is Unknown. */
function codeOfStatus(grpc: number): Code {
  return CODE_OF_STATUS.get(grpc) ?? Code.Unknown;
}

/** Node's system errors by errno name: the ones a command is likely to meet. */
const SYSTEM_ERRORS: Partial<Record<string, Code>> = {
  ENOENT: Code.NotFound,
  EEXIST: Code.AlreadyExists,
  EACCES: Code.PermissionDenied,
  EPERM: Code.PermissionDenied,
  EADDRINUSE: Code.FailedPrecondition,
  ENOTDIR: Code.InvalidArgument,
  EISDIR: Code.InvalidArgument,
  ECONNREFUSED: Code.Unavailable,
  ECONNRESET: Code.Unavailable,
  EHOSTUNREACH: Code.Unavailable,
  ENETUNREACH: Code.Unavailable,
  ETIMEDOUT: Code.Unavailable,
  EPIPE: Code.Unavailable,
  EAI_AGAIN: Code.Unavailable,
  ENOSPC: Code.ResourceExhausted,
  EMFILE: Code.ResourceExhausted,
  ENFILE: Code.ResourceExhausted,
  ENOMEM: Code.ResourceExhausted,
};

/** The errno name of a Node system error (which carries `syscall` besides `code`), or '' for any other error. */
function systemErrorName(err: Error): string {
  const { code, syscall } = err as NodeJS.ErrnoException;
  return typeof code === 'string' && typeof syscall === 'string' ? code : '';
}

/** grpc-js rejects calls with a plain Error carrying the status: `code`, `details`, `metadata`. */
function isServiceError(value: unknown): value is ServiceError {
  return (
    value instanceof Error &&
    typeof (value as Partial<ServiceError>).code === 'number' &&
    typeof (value as Partial<ServiceError>).details === 'string'
  );
}
