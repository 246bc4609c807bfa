import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 256-bit key derived from the CA key: only a holder of the CA key can seal or open. */
function sealingKey(caKeyPem: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(caKeyPem), Buffer.from('flotilla-seal'), purpose, 32));
}

/** Encrypts a small secret (AES-256-GCM) for storage next to public data: version, IV, tag, ciphertext. */
export function seal(caKeyPem: string, purpose: string, plaintext: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(caKeyPem, purpose), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/** Opens what seal() made with the same CA key and purpose; anything else is refused. */
export function unseal(caKeyPem: string, purpose: string, sealed: Uint8Array): string {
  const data = Buffer.from(sealed);
  if (data.length < 1 + IV_BYTES + TAG_BYTES || data[0] !== VERSION) {
    throw new FlotillaError(Code.PermissionDenied, `the sealed ${purpose} are missing or in an unknown format`, {
      reason: 'untrusted',
    });
  }
  const iv = data.subarray(1, 1 + IV_BYTES);
  const tag = data.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(caKeyPem, purpose), iv);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString();
  } catch (err) {
    throw new FlotillaError(Code.PermissionDenied, `the sealed ${purpose} do not open with this CA key`, {
      cause: err,
      reason: 'untrusted',
    });
  }
}
