import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';

const PREFIX = 'FLTKN-1';
const SECRET = /^[0-9a-z]{32}$/;

/**
 * Join tokens in swarm's style: `FLTKN-1-<sha256 of the CA certificate>-<secret>`. The fingerprint lets a joining
 * node check that the manager it reached holds the cluster's CA before it trusts it with anything; the secret
 * says which role the node may join as. Managers keep only a hash of each secret.
 */
export interface ParsedToken {
  caFingerprint: string;
  secret: string;
}

export function generateJoinToken(caFingerprint: string): { token: string; secretHash: string } {
  let secret = '';
  while (secret.length < 32) {
    for (const byte of randomBytes(48)) if (byte < 252 && secret.length < 32) secret += (byte % 36).toString(36);
  }
  return { token: `${PREFIX}-${caFingerprint}-${secret}`, secretHash: hashSecret(secret) };
}

export function parseJoinToken(token: string): ParsedToken {
  const parts = token.trim().split('-');
  const [a, b, fingerprint, secret] = parts;
  if (
    parts.length !== 4 ||
    `${a}-${b}` !== PREFIX ||
    !/^[0-9a-f]{64}$/.test(fingerprint ?? '') ||
    !SECRET.test(secret ?? '')
  ) {
    throw new FlotillaError(
      Code.InvalidArgument,
      'this is not a Flotilla join token (FLTKN-1-<fingerprint>-<secret>): copy it again from `flotilla join-token worker`',
      { reason: 'malformed-token' },
    );
  }
  return { caFingerprint: fingerprint as string, secret: secret as string };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * Which role a token admits, given the hashes of the cluster's current worker and manager secrets. Compared in
 * constant time; a rotated-away or foreign secret is refused.
 */
export function roleForToken(
  token: ParsedToken,
  caFingerprint: string,
  secretHashes: { worker: string; manager: string },
): 'worker' | 'manager' {
  if (token.caFingerprint !== caFingerprint) {
    throw new FlotillaError(
      Code.PermissionDenied,
      "the token was made for another cluster's CA: check the address you joined",
      { reason: 'wrong-ca' },
    );
  }
  const hash = Buffer.from(hashSecret(token.secret), 'hex');
  const matches = (expected: string) => {
    const other = Buffer.from(expected, 'hex');
    return other.length === hash.length && timingSafeEqual(hash, other);
  };
  if (matches(secretHashes.manager)) return 'manager';
  if (matches(secretHashes.worker)) return 'worker';
  throw new FlotillaError(
    Code.PermissionDenied,
    'the join token is not valid (rotated or mistyped): get the current one with `flotilla join-token`',
    { reason: 'bad-token' },
  );
}
