import { Code, FlotillaError, reasonGuard } from '@flotilla/api';

/**
 * The reasons the events package puts on every FlotillaError it makes, so a caller can tell a Redis failure from
 * any other (the managers answer "cannot read logs" for these) and which one it is.
 */
export const EVENTS_REASONS = [
  // Redis could not be reached in time (down, restarting, refusing writes). Back off and retry (Unavailable).
  'unavailable',
  // Redis refused the credentials or the command for this user (Unauthenticated).
  'auth',
  // The TLS handshake failed: the server certificate did not verify against the CA (Unauthenticated).
  'tls',
  // A stream entry or an event is not a valid Flotilla event (InvalidArgument).
  'malformed',
  // An option, URL, stream ID or task ID is not valid (InvalidArgument).
  'invalid-argument',
  // The writer or reader was closed (Canceled).
  'closed',
  // Anything else Redis answered (Internal).
  'internal',
] as const;

export type EventsReason = (typeof EVENTS_REASONS)[number];

/** Whether a FlotillaError's reason is one of the events package's. */
export const isEventsReason = reasonGuard(EVENTS_REASONS);

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

/** A failed Redis call (an ioredis error, a reply error) as a FlotillaError with a message that says what to do. */
export function redisFailure(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  maskCredentials(err);
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const name = err instanceof Error ? err.name : '';
  if (AUTH_REPLIES.test(message)) {
    return new FlotillaError(
      Code.Unauthenticated,
      `Redis refused the credentials (${message}): check the password in the URL`,
      { cause: err, reason: 'auth' },
    );
  }
  if (TLS_CODES.has(code)) {
    return new FlotillaError(
      Code.Unauthenticated,
      `TLS to Redis failed (${message}): check tls.caFile and the server name`,
      { cause: err, reason: 'tls' },
    );
  }
  if (
    name === 'MaxRetriesPerRequestError' ||
    name === 'AbortError' ||
    CONNECTION_CODES.has(code) ||
    CONNECTION_MESSAGES.test(message) ||
    TRANSIENT_REPLIES.test(message) ||
    isTransientAbort(err)
  ) {
    return new FlotillaError(Code.Unavailable, `Redis is unavailable (${message}): retry with backoff`, {
      cause: err,
      reason: 'unavailable',
    });
  }
  return new FlotillaError(Code.Internal, `Redis request failed: ${message}`, { cause: err, reason: 'internal' });
}

/**
 * ioredis puts the failed command on its errors (`err.command.args`): for a refused AUTH or HELLO, the password.
 * Masked in place, before anything logs or keeps the error.
 */
export function maskCredentials(err: unknown): void {
  if (typeof err !== 'object' || err === null || !('command' in err)) return;
  const command = err.command as { name?: unknown; args?: unknown } | undefined;
  if (!command || !/^(auth|hello|acl)$/i.test(String(command.name)) || !Array.isArray(command.args)) return;
  command.args = command.args.map(() => '***');
}

/** A failed MULTI carries the errors that aborted it (a lost connection, OOM…); it is transient when they are. */
function isTransientAbort(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('previousErrors' in err)) return false;
  const previous = err.previousErrors;
  return Array.isArray(previous) && previous.some((e) => e !== err && redisFailure(e).reason === 'unavailable');
}
