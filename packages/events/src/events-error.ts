export type EventsErrorCode =
  /** Redis could not be reached in time (down, restarting, refusing writes). Back off and retry. */
  | 'unavailable'
  /** Redis refused the credentials or the command for this user. */
  | 'auth'
  /** The TLS handshake failed: the server certificate did not verify against the CA. */
  | 'tls'
  /** A stream entry or an event is not a valid Flotilla event. */
  | 'malformed'
  /** An option, URL, stream ID or task ID is not valid. */
  | 'invalid-argument'
  /** The writer or reader was closed. */
  | 'closed'
  | 'internal';

// Replies with these prefixes mean "not now" (loading, full, failing over) rather than "never".
const TRANSIENT_REPLIES = /^(OOM|LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;
const AUTH_REPLIES = /^(NOAUTH|WRONGPASS|NOPERM)\b/;
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const CONNECTION_MESSAGES =
  /Connection is closed|Command aborted due to connection close|Stream isn't writeable|Command timed out|Socket timeout|connect ETIMEDOUT|Reached the max retries/i;
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The one error class of the events package: a typed code callers branch on, and a message that says what to do. */
export class EventsError extends Error {
  override readonly name = 'EventsError';

  constructor(
    readonly code: EventsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static from(err: unknown): EventsError {
    if (err instanceof EventsError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    const name = err instanceof Error ? err.name : '';
    if (AUTH_REPLIES.test(message)) {
      return new EventsError('auth', `Redis refused the credentials (${message}): check the password in the URL`, {
        cause: err,
      });
    }
    if (TLS_CODES.has(code)) {
      return new EventsError('tls', `TLS to Redis failed (${message}): check tls.caFile and the server name`, {
        cause: err,
      });
    }
    if (
      name === 'MaxRetriesPerRequestError' ||
      name === 'AbortError' ||
      CONNECTION_CODES.has(code) ||
      CONNECTION_MESSAGES.test(message) ||
      TRANSIENT_REPLIES.test(message) ||
      isTransientAbort(err)
    ) {
      return new EventsError('unavailable', `Redis is unavailable (${message}): retry with backoff`, { cause: err });
    }
    return new EventsError('internal', `Redis request failed: ${message}`, { cause: err });
  }
}

/** A failed MULTI carries the errors that aborted it (a lost connection, OOM…); it is transient when they are. */
function isTransientAbort(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('previousErrors' in err)) return false;
  const previous = err.previousErrors;
  return Array.isArray(previous) && previous.some((e) => e !== err && EventsError.from(e).code === 'unavailable');
}
