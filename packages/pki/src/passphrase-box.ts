import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';

/** The shortest passphrase accepted: a backup holds the CA key, and scrypt only slows guessing down. */
export const MIN_PASSPHRASE_LENGTH = 12;

/** scrypt's cost: 2^15 × 8 × 128 bytes = 32 MiB and about 0.1 s a guess; recorded with the box, so it can grow. */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;

/** What a box keeps beside its ciphertext: how the key was derived and the cipher's IV and tag (base64). */
export interface PassphraseBox {
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; iv: string; tag: string };
  ciphertext: string;
}

function deriveKey(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, { ...cost, maxmem: 128 * cost.N * cost.r * 2 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Refuses a passphrase too short to protect a CA key, saying how long one must be. */
export function checkPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `the passphrase is too short: use at least ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
}

/** Encrypts with a key derived from a passphrase (scrypt, then AES-256-GCM). */
export async function lockWithPassphrase(passphrase: string, plaintext: Buffer): Promise<PassphraseBox> {
  checkPassphrase(passphrase);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, COST), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    kdf: { name: 'scrypt', ...COST, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') },
    ciphertext: ciphertext.toString('base64'),
  };
}

/** Opens a box made by lockWithPassphrase; a wrong passphrase (or a changed box) is refused as such. */
export async function openWithPassphrase(passphrase: string, box: PassphraseBox): Promise<Buffer> {
  const { kdf, cipher } = box;
  if (kdf?.name !== 'scrypt' || cipher?.name !== 'aes-256-gcm' || !(kdf.N > 1 && kdf.N <= 2 ** 20)) {
    throw new FlotillaError(Code.InvalidArgument, 'the encrypted part is in an unknown format');
  }
  const key = await deriveKey(passphrase, Buffer.from(kdf.salt, 'base64'), kdf);
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(cipher.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(cipher.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(box.ciphertext, 'base64')), decipher.final()]);
  } catch (err) {
    throw new FlotillaError(Code.PermissionDenied, 'the passphrase does not open it (or the file was changed)', {
      cause: err,
    });
  }
}
