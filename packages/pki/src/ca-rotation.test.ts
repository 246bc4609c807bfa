import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { FlotillaError } from '@flotilla/api';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, issuedBy } from './certificate-authority.js';
import { createKeyAndCsr } from './csr.js';

const closers: (() => void)[] = [];
afterAll(() => {
  for (const close of closers) close();
});

async function leaf(ca: CertificateAuthority, nodeId: string) {
  const { keyPem, csrPem } = await createKeyAndCsr();
  const certPem = await ca.issue({ csrPem, nodeId, role: 'worker', ipAddresses: ['127.0.0.1'] });
  return { keyPem, certPem };
}

/** A real TLS handshake over loopback, both ends verified by OpenSSL: the server trusts `serverTrust`. */
async function handshake(
  server: { certPem: string; keyPem: string; trust: string },
  client: { certPem: string; keyPem: string; trust: string },
): Promise<string> {
  const tls = createServer({
    cert: server.certPem,
    key: server.keyPem,
    ca: server.trust,
    requestCert: true,
    rejectUnauthorized: true,
  });
  tls.on('secureConnection', (socket: TLSSocket) => socket.end('hello'));
  tls.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  closers.push(() => tls.close());
  const port = (tls.address() as { port: number }).port;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      cert: client.certPem,
      key: client.keyPem,
      ca: client.trust,
      checkServerIdentity: () => undefined,
    });
    let text = '';
    socket.on('data', (d) => {
      text += String(d);
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  }).finally(() => tls.close()) as Promise<string>;
}

describe('CA rotation', () => {
  it('a leaf of the new CA verifies against the old root through the cross-signed CA, and against the new root', async () => {
    const { ca: old } = await CertificateAuthority.create('cluster-rot');
    const { ca: next } = await CertificateAuthority.create('cluster-rot');
    const cross = await old.crossSign(next);
    const crossCert = new X509Certificate(cross);
    expect(crossCert.subject).toBe(new X509Certificate(next.certPem).subject);
    expect(issuedBy(cross, old.certPem)).toBe(true);
    expect(crossCert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(
      new X509Certificate(next.certPem).publicKey.export({ type: 'spki', format: 'der' }),
    );

    old.beginRotation(next, cross);
    expect(old.rotating).toBe(true);
    const fresh = await leaf(old, 'node1');
    // The issued chain: the new leaf, then the cross-signed CA.
    expect(fresh.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(issuedBy(fresh.certPem, next.certPem)).toBe(true);
    expect(issuedBy(fresh.certPem, cross)).toBe(true);
    expect(old.verify(fresh.certPem).nodeId).toBe('node1');
    expect(old.trustPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });
});

describe('CA rotation over TLS', () => {
  it('peers that trust only the old root, only the new root, or both accept a new leaf with its cross-signed CA', async () => {
    const { ca } = await CertificateAuthority.create('cluster-tls');
    const oldRoot = ca.certPem;
    const oldLeaf = await leaf(ca, 'oldpeer');
    const { ca: next } = await CertificateAuthority.create('cluster-tls');
    ca.beginRotation(next, await ca.crossSign(next));
    const newLeaf = await leaf(ca, 'newpeer');
    const both = ca.trustPem;

    // New leaf (with the cross-signed CA) to a server that trusts only the old root, and back.
    expect(await handshake({ ...oldLeaf, trust: oldRoot }, { ...newLeaf, trust: oldRoot })).toBe('hello');
    expect(await handshake({ ...newLeaf, trust: oldRoot }, { ...oldLeaf, trust: oldRoot })).toBe('hello');
    // With both roots trusted, leaves of either CA pass.
    expect(await handshake({ ...newLeaf, trust: both }, { ...oldLeaf, trust: both })).toBe('hello');
    expect(await handshake({ ...oldLeaf, trust: both }, { ...newLeaf, trust: both })).toBe('hello');

    ca.finishRotation();
    expect(ca.certPem).toBe(next.certPem);
    const after = await leaf(ca, 'after');
    expect(after.certPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    // Trusting only the new root: new leaves pass (with or without the cross-signed CA), an old leaf does not.
    expect(await handshake({ ...after, trust: ca.trustPem }, { ...newLeaf, trust: ca.trustPem })).toBe('hello');
    // TLS 1.3 tells the client of its refusal after its side of the handshake: the connection ends unanswered.
    const refused = await handshake({ ...after, trust: ca.trustPem }, { ...oldLeaf, trust: ca.trustPem }).catch(
      () => 'refused',
    );
    expect(refused).not.toBe('hello');
    expect(ca.verify(newLeaf.certPem).nodeId).toBe('newpeer');
    let reason = '';
    try {
      ca.verify(oldLeaf.certPem);
    } catch (err) {
      reason = err instanceof FlotillaError ? String(err.reason) : String(err);
    }
    expect(reason).toBe('untrusted');
  });
});
