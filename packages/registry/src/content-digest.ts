import { createHash, type Hash } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A hash for the algorithm a digest names (sha256 or sha512). */
export function hasherFor(digest: string): Hash {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new FlotillaError(Code.Unimplemented, `digest algorithm "${algorithm}" is not supported: use sha256`, {
      reason: 'unsupported-media-type',
    });
  }
  return createHash(algorithm);
}

/** Whether bytes hash to the digest, in the digest's own algorithm. */
export function matchesDigest(bytes: Uint8Array, digest: string): boolean {
  const hash = hasherFor(digest).update(bytes).digest('hex');
  return `${digest.slice(0, digest.indexOf(':'))}:${hash}` === digest;
}

/**
 * Passes the chunks of a blob through while counting and hashing them; ends with `digest-mismatch` if the bytes
 * are not exactly `size` long or do not hash to `digest`. The consumer sees every chunk before the verdict, so it
 * must treat what it wrote as unverified until the iteration ends without an error (containerd's content writer
 * commits with the expected digest and would refuse it too).
 */
export async function* verifyStream(
  source: AsyncIterable<Uint8Array>,
  expected: { digest: string; size: number },
  what: string,
): AsyncGenerator<Buffer, void, undefined> {
  const hash = hasherFor(expected.digest);
  let seen = 0;
  const iterator = source[Symbol.asyncIterator]();
  let drained = false;
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (err) {
        drained = true;
        if (err instanceof FlotillaError) throw err;
        throw new FlotillaError(Code.Unavailable, `the download of ${what} broke off (${String(err)}): pull again`, {
          cause: err,
          reason: 'unavailable',
        });
      }
      if (next.done) {
        drained = true;
        break;
      }
      const chunk = next.value;
      seen += chunk.byteLength;
      if (seen > expected.size) {
        throw new FlotillaError(
          Code.DataLoss,
          `${what} is longer than the ${expected.size} bytes its descriptor says: the registry served different ` +
            'content; pull again, and if it persists the image on the registry is corrupt',
          { reason: 'digest-mismatch' },
        );
      }
      hash.update(chunk);
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } finally {
    // Also when the consumer stops early (break, destroy): release the source, i.e. close the HTTP response.
    if (!drained) await iterator.return?.();
  }
  if (seen !== expected.size) {
    throw new FlotillaError(
      Code.DataLoss,
      `${what} ended after ${seen} of ${expected.size} bytes: the download was cut short; pull again`,
      { reason: 'digest-mismatch' },
    );
  }
  const actual = `${expected.digest.slice(0, expected.digest.indexOf(':'))}:${hash.digest('hex')}`;
  if (actual !== expected.digest) {
    throw new FlotillaError(
      Code.DataLoss,
      `${what} hashes to ${actual}, not ${expected.digest}: the registry served different content; pull again, and ` +
        'if it persists the image on the registry is corrupt',
      { reason: 'digest-mismatch' },
    );
  }
}
