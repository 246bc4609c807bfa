export type PkiErrorCode =
  /** A join token that is not in Flotilla's format at all. */
  | 'malformed-token'
  /** A well-formed token that this cluster did not issue, or that was rotated away. */
  | 'bad-token'
  /** The token was made for another cluster's CA: the manager is not the one the token points at. */
  | 'wrong-ca'
  /** A certificate signing request that does not parse or whose signature does not verify. */
  | 'bad-csr'
  /** A certificate that this cluster's CA did not issue, or that is not valid now. */
  | 'untrusted'
  | 'invalid';

/** The one error class of cluster security: a typed code and a message that says what to do. */
export class PkiError extends Error {
  override readonly name = 'PkiError';

  constructor(
    readonly code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static from(err: unknown): PkiError {
    if (err instanceof PkiError) return err;
    return new PkiError('invalid', err instanceof Error ? err.message : String(err), { cause: err });
  }
}
