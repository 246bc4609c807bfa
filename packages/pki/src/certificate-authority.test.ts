import { X509Certificate } from 'node:crypto';
import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, caFingerprint } from './certificate-authority.js';
import { createKeyAndCsr } from './csr.js';

async function code(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return err instanceof FlotillaError ? String(err.reason) : `unexpected ${String(err)}`;
  }
}

describe('CertificateAuthority', () => {
  it('issues a node certificate whose subject the CA chooses, and reads the identity back', async () => {
    const { ca, keyPem } = await CertificateAuthority.create('cluster1');
    expect(keyPem).toContain('BEGIN PRIVATE KEY');
    const { csrPem } = await createKeyAndCsr();
    const certPem = await ca.issue({ csrPem, nodeId: 'node1', role: 'worker', ipAddresses: ['198.18.0.2'] });
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=node1\nOU=flotilla-worker\nO=cluster1');
    expect(cert.subjectAltName).toContain('IP Address:198.18.0.2');
    expect(ca.verify(certPem)).toEqual({ nodeId: 'node1', role: 'worker', clusterId: 'cluster1' });
    expect(ca.fingerprint).toBe(caFingerprint(ca.certPem));
    expect(ca.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('survives a reload from its PEM files', async () => {
    const { ca, keyPem } = await CertificateAuthority.create('cluster2');
    const again = await CertificateAuthority.load(ca.certPem, keyPem);
    expect(again.clusterId).toBe('cluster2');
    const certPem = await again.issue({ csrPem: (await createKeyAndCsr()).csrPem, nodeId: 'm1', role: 'manager' });
    expect(ca.verify(certPem).role).toBe('manager');
  });

  it('refuses certificates from another CA, expired ones, and bad requests', async () => {
    const { ca } = await CertificateAuthority.create('cluster3');
    const { ca: other } = await CertificateAuthority.create('cluster3');
    const { csrPem } = await createKeyAndCsr();
    const foreign = await other.issue({ csrPem, nodeId: 'n1', role: 'worker' });
    expect(await code(() => ca.verify(foreign))).toBe('untrusted');
    const expired = await ca.issue({
      csrPem,
      nodeId: 'n1',
      role: 'worker',
      notBefore: new Date(Date.now() - 10_000),
      validityMs: 1_000,
    });
    expect(await code(() => ca.verify(expired))).toBe('untrusted');
    expect(await code(() => ca.issue({ csrPem: 'not a csr', nodeId: 'n1', role: 'worker' }))).toBe('bad-csr');
    // Flip one bit of the request's signature (the last bytes of its DER).
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await code(() => ca.issue({ csrPem: tampered, nodeId: 'n1', role: 'worker' }))).toBe('bad-csr');
    expect(await code(() => ca.issue({ csrPem, nodeId: '../etc', role: 'worker' }))).toBe('invalid');
  });
});
