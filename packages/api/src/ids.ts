import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 25;

/** A random object ID in swarm's style: 25 lower-case base-36 characters (~129 bits). */
export function newId(): string {
  // Rejection sampling keeps every character uniformly likely (256 is not a multiple of 36).
  let id = '';
  while (id.length < ID_LENGTH) {
    for (const byte of randomBytes(ID_LENGTH * 2)) {
      if (byte < 252 && id.length < ID_LENGTH) id += ALPHABET[byte % 36];
    }
  }
  return id;
}

export function isId(value: string): boolean {
  return value.length === ID_LENGTH && /^[0-9a-z]+$/.test(value);
}
