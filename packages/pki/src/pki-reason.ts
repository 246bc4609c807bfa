import { reasonGuard } from '@flotilla/api';
/** The reasons cluster security puts on its FlotillaErrors, for callers that branch on more than the code. */
export const PKI_REASONS = [
  // A join token that is not in Flotilla's format at all (InvalidArgument).
  'malformed-token',
  // A well-formed token that this cluster did not issue, or that was rotated away (PermissionDenied).
  'bad-token',
  // The token was made for another cluster's CA, or its manager cannot be reached to prove it holds the CA.
  'wrong-ca',
  // A certificate signing request that does not parse or whose signature does not verify (InvalidArgument).
  'bad-csr',
  // A certificate that this cluster's CA did not issue, or that is not valid now (PermissionDenied).
  'untrusted',
  // A certificate of this cluster whose identity was revoked (a removed node, a revoked operator).
  'revoked',
  // Any other input that cluster security cannot take.
  'invalid',
] as const;

export type PkiReason = (typeof PKI_REASONS)[number];

/** Whether a FlotillaError's reason is one of cluster security's. */
export const isPkiReason = reasonGuard(PKI_REASONS);
