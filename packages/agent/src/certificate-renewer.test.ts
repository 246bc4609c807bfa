import { CertificateAuthority, certificateLife, createKeyAndCsr } from '@flotilla/pki';
import { describe, expect, it } from 'vitest';
import { CertificateRenewer } from './certificate-renewer.js';
import { NodeCertificates } from './node-certificates.js';

async function setup(validityMs: number) {
  const { ca } = await CertificateAuthority.create('renewals');
  const keys = await createKeyAndCsr();
  const certPem = await ca.issue({ csrPem: keys.csrPem, nodeId: 'n1', role: 'worker', validityMs });
  const certificates = new NodeCertificates({ caCertPem: ca.certPem, certPem, keyPem: keys.keyPem });
  return { ca, certificates, keyPem: keys.keyPem };
}

function logs() {
  const lines: { obj: object; msg: string }[] = [];
  const push = (obj: object, msg: string) => lines.push({ obj, msg });
  return { lines, logger: { info: push, warn: push } as never };
}

describe('CertificateRenewer', () => {
  it('plans the renewal between 50 % and 80 % of the life, and renews then for the same identity', async () => {
    const { ca, certificates } = await setup(2_000);
    const saved: string[] = [];
    const renewer = new CertificateRenewer({
      certificates,
      renew: (csrPem) => ca.issue({ csrPem, nodeId: 'n1', role: 'worker', validityMs: 2_000 }),
      save: (certPem) => saved.push(certPem),
    });
    const before = certificates.current().certPem;
    renewer.start();
    try {
      const { notBeforeMs, notAfterMs } = certificateLife(before);
      const span = notAfterMs - notBeforeMs;
      expect(renewer.nextAt).toBeGreaterThanOrEqual(notBeforeMs + span * 0.5);
      expect(renewer.nextAt).toBeLessThanOrEqual(notBeforeMs + span * 0.8);
      await expect.poll(() => renewer.renewals, { timeout: 3_000 }).toBe(1);
      expect(certificates.current().certPem).not.toBe(before);
      expect(saved).toEqual([certificates.current().certPem]);
    } finally {
      renewer.stop();
    }
  });

  it('retries a failed renewal with growing waits, logs without the key, and keeps the old pair meanwhile', async () => {
    const { ca, certificates, keyPem } = await setup(60_000);
    const { lines, logger } = logs();
    let calls = 0;
    const renewer = new CertificateRenewer({
      certificates,
      renew: async (csrPem) => {
        calls++;
        if (calls < 3) throw new Error('no session with a manager');
        return ca.issue({ csrPem, nodeId: 'n1', role: 'worker' });
      },
      save: () => undefined,
      backoffMs: { first: 50, max: 1_000 },
      logger,
    });
    const before = certificates.current();
    renewer.start();
    try {
      await renewer.renewNow();
      expect(certificates.current()).toEqual(before);
      const firstRetryAt = renewer.nextAt;
      await expect.poll(() => renewer.renewals, { timeout: 3_000 }).toBe(1);
      expect(calls).toBe(3);
      const warnings = lines.filter((l) => l.msg.includes('failed'));
      expect(warnings.map((w) => (w.obj as { retryInMs: number }).retryInMs)).toEqual([50, 100]);
      expect(firstRetryAt).toBeGreaterThan(Date.now() - 1_000);
      expect(JSON.stringify(lines)).not.toContain('PRIVATE KEY');
      expect(JSON.stringify(lines)).not.toContain(keyPem.split('\n')[1]);
      expect(certificates.current().keyPem).not.toBe(before.keyPem);
    } finally {
      renewer.stop();
    }
  });

  it('refuses a certificate for another identity, keeping its own', async () => {
    const { ca, certificates } = await setup(60_000);
    const { lines, logger } = logs();
    const renewer = new CertificateRenewer({
      certificates,
      renew: (csrPem) => ca.issue({ csrPem, nodeId: 'n2', role: 'manager' }),
      save: () => {
        throw new Error('must not be saved');
      },
      backoffMs: { first: 10_000, max: 10_000 },
      logger,
    });
    const before = certificates.current();
    await renewer.renewNow();
    renewer.stop();
    expect(certificates.current()).toEqual(before);
    expect(lines.map((l) => (l.obj as { err?: string }).err)).toEqual([
      'the renewed certificate names manager n2, not worker n1: not used',
    ]);
  });
});
