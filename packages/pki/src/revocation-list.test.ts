import { FlotillaError, Revocation } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { createKeyAndCsr } from './csr.js';
import { RevocationList, revocationKey } from './revocation-list.js';

const revocation = (subjectId: string, role: string, revokedAtMs: number, expiresAtMs: number) =>
  Revocation.fromPartial({ subjectId, role, revokedAtMs: BigInt(revokedAtMs), expiresAtMs: BigInt(expiresAtMs) });

describe('RevocationList', () => {
  it('covers certificates of the subject issued up to the revocation, of any role or of the one named', () => {
    const list = new RevocationList();
    list.add(revocation('n1', '', 1_000, 10_000));
    list.add(revocation('m1', 'manager', 1_000, 10_000));
    expect(list.covering({ nodeId: 'n1', role: 'worker' }, 999, 2_000)).toBeDefined();
    expect(list.covering({ nodeId: 'n1', role: 'worker' }, 1_000, 2_000)).toBeDefined();
    // Issued after the revocation: not covered (a demoted manager's new worker certificate, say).
    expect(list.covering({ nodeId: 'n1', role: 'worker' }, 1_001, 2_000)).toBeUndefined();
    expect(list.covering({ nodeId: 'm1', role: 'manager' }, 500, 2_000)).toBeDefined();
    expect(list.covering({ nodeId: 'm1', role: 'worker' }, 500, 2_000)).toBeUndefined();
    expect(list.covering({ nodeId: 'other', role: 'worker' }, 500, 2_000)).toBeUndefined();
  });

  it('ignores revocations past their expiry and offers them for pruning', () => {
    const list = new RevocationList();
    list.replace([revocation('old', '', 1_000, 5_000), revocation('new', '', 1_000, 50_000)]);
    expect(list.covering({ nodeId: 'old', role: 'worker' }, 500, 6_000)).toBeUndefined();
    expect(list.expired(6_000).map((r) => r.subjectId)).toEqual(['old']);
    list.remove('old', '');
    expect(list.size).toBe(1);
    list.replace([]);
    expect(list.size).toBe(0);
  });

  it('keys one revocation per subject and role', () => {
    expect(revocationKey('n1', '')).toBe('n1');
    expect(revocationKey('n1', 'manager')).toBe('n1.manager');
  });

  it("makes the CA refuse a revoked identity's certificates, and only those", async () => {
    const { ca } = await CertificateAuthority.create('cluster9');
    const list = new RevocationList();
    ca.useRevocations(list);
    const cert = await ca.issue({ csrPem: (await createKeyAndCsr()).csrPem, nodeId: 'n1', role: 'worker' });
    const other = await ca.issue({ csrPem: (await createKeyAndCsr()).csrPem, nodeId: 'n2', role: 'worker' });
    expect(ca.verify(cert).nodeId).toBe('n1');
    list.add(revocation('n1', '', Date.now(), Date.now() + 60_000));
    let reason: unknown;
    try {
      ca.verify(cert);
    } catch (err) {
      reason = err instanceof FlotillaError ? err.reason : err;
    }
    expect(reason).toBe('revoked');
    expect(ca.verify(other).nodeId).toBe('n2');
  });
});
