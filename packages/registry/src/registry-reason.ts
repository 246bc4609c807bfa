/**
 * The reasons the registry package puts on every FlotillaError it makes: which registry failure it is, so a puller
 * can tell the failures no retry gets past (the registry's not-found, unauthorized…) from the rest.
 */
export type RegistryReason =
  /** The image reference cannot be parsed: fix the `image:` value (InvalidArgument). */
  | 'invalid-reference'
  /** The repository, tag, manifest or blob does not exist on the registry (NotFound). */
  | 'not-found'
  /** The registry wants credentials, or refused the ones it got (Unauthenticated). */
  | 'unauthorized'
  /** The image has no manifest for the platform of this node (NotFound). */
  | 'no-matching-platform'
  /** Content did not hash to the digest (or size) it was fetched by: corrupted, truncated, or tampered with (DataLoss). */
  | 'digest-mismatch'
  /** A manifest type this client does not pull, e.g. Docker schema 1 (Unimplemented). */
  | 'unsupported-media-type'
  /** The registry could not be reached, timed out, or answered 429/5xx. Back off and retry (Unavailable). */
  | 'unavailable'
  /** A manifest, config or token response is larger than this client accepts (ResourceExhausted). */
  | 'too-large'
  /** The registry refused a request for another reason, or sent content that is broken (FailedPrecondition). */
  | 'rejected'
  /** A credentials file that cannot be read or parsed (InvalidArgument). */
  | 'invalid-config'
  /** Input to the image builder that cannot become an image: a missing host file, a bad path (InvalidArgument). */
  | 'invalid-image';
