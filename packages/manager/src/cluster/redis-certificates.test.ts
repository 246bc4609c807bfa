import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateAuthority } from '@flotilla/pki';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER_NAME, writeRedisTlsFiles } from './redis-certificates.js';

const dir = mkdtempSync(path.join(tmpdir(), 'redis-certs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Redis's TLS files from a manager's state directory", () => {
  it('issues a certificate of the cluster CA for the fixed name and the hosts, its key readable by the owner only', async () => {
    const state = path.join(dir, 'manager');
    const { ca, keyPem } = await CertificateAuthority.create('c1');
    mkdirSync(state, { mode: 0o700 });
    writeFileSync(path.join(state, 'ca.crt'), ca.certPem);
    writeFileSync(path.join(state, 'ca.key'), keyPem, { mode: 0o600 });
    const files = await writeRedisTlsFiles(state, path.join(dir, 'redis'), ['10.0.0.5', 'redis.example']);
    const cert = new X509Certificate(readFileSync(files.certFile));
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain(`DNS:${REDIS_SERVER_NAME}`);
    expect(cert.subjectAltName).toContain('DNS:redis.example');
    expect(cert.subjectAltName).toContain('IP Address:10.0.0.5');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(files.keyFile)))).toBe(true);
    expect(statSync(files.keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(files.caFile, 'utf8')).toBe(ca.trustPem);
  });

  it('refuses a directory without the cluster CA, saying which directory to give', async () => {
    await expect(writeRedisTlsFiles(path.join(dir, 'empty'), path.join(dir, 'out'), [])).rejects.toThrow(
      /holds no cluster CA: give the state directory of a manager that has started/,
    );
    expect(existsSync(path.join(dir, 'empty'))).toBe(false);
  });
});
