import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { seal, unseal } from './sealing.js';

describe('sealing secrets with the CA key', () => {
  it('opens with the same key and purpose only, and never shows the plaintext', async () => {
    const { keyPem } = await CertificateAuthority.create('c1');
    const { keyPem: other } = await CertificateAuthority.create('c2');
    const sealed = seal(keyPem, 'join tokens', 'FLTKN-secret');
    expect(Buffer.from(sealed).toString('latin1')).not.toContain('FLTKN');
    expect(unseal(keyPem, 'join tokens', sealed)).toBe('FLTKN-secret');
    expect(() => unseal(other, 'join tokens', sealed)).toThrow(FlotillaError);
    expect(() => unseal(keyPem, 'something else', sealed)).toThrow(FlotillaError);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1;
    expect(() => unseal(keyPem, 'join tokens', tampered)).toThrow(/do not open/);
    expect(() => unseal(keyPem, 'join tokens', new Uint8Array())).toThrow(/missing/);
  });
});
