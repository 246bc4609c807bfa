export type RegistryErrorCode =
  /** The image reference cannot be parsed: fix the `image:` value. */
  | 'invalid-reference'
  /** The repository, tag, manifest or blob does not exist on the registry. */
  | 'not-found'
  /** The registry wants credentials, or refused the ones it got. */
  | 'unauthorized'
  /** The image has no manifest for the platform of this node. */
  | 'no-matching-platform'
  /** Content did not hash to the digest (or size) it was fetched by: corrupted, truncated, or tampered with. */
  | 'digest-mismatch'
  /** A manifest type this client does not pull (e.g. Docker schema 1). */
  | 'unsupported-media-type'
  /** The registry could not be reached, timed out, or answered 429/5xx. Back off and retry. */
  | 'unavailable'
  /** A manifest, config or token response is larger than this client accepts. */
  | 'too-large'
  /** The registry refused a request for another reason (an upload or manifest it calls invalid). */
  | 'rejected'
  /** A credentials file that cannot be read or parsed. */
  | 'invalid-config'
  /** Input to the image builder that cannot become an image (a missing host file, a bad path). */
  | 'invalid-image';

/** The one error class of the registry package: a typed code callers branch on, and a message that says what to do. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';

  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static from(err: unknown): RegistryError {
    if (err instanceof RegistryError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new RegistryError('unavailable', `registry request failed (${message}): retry later`, { cause: err });
  }
}
