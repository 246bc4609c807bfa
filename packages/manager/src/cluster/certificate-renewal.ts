import { X509Certificate } from 'node:crypto';
import { Code, FlotillaError, type RenewRequest } from '@flotilla/api';
import { type CertificateAuthority, certificateLife, MANAGER_SERVER_NAME, type NodeIdentity } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { peerIdentity } from '../peer-identity.js';
import { currentCertExpiryMs } from './cert-expiry.js';

/** A certificate issued by renewal: for whom, and until when. */
export interface RenewedCertificate {
  identity: NodeIdentity;
  certPem: string;
  expiresAtMs: number;
}

/**
 * The Renew RPC: a caller with a valid, unrevoked certificate of this cluster gets a new one for the key in its CSR,
 * naming the same ID and role as the certificate it called with (and the same extra names, which the cluster chose
 * when it first issued it). Nothing in the request can change who the certificate is for.
 */
export async function renewCertificate(
  store: Store,
  ca: CertificateAuthority,
  call: ServerUnaryCall<RenewRequest, unknown>,
  maxCsrBytes: number,
): Promise<RenewedCertificate> {
  const identity = peerIdentity(call, ca);
  const raw = call.getAuthContext().sslPeerCertificate?.raw as Buffer;
  if (call.request.csrPem.length > maxCsrBytes)
    throw new FlotillaError(Code.InvalidArgument, 'the certificate request is too large', { reason: 'bad-csr' });
  const validityMs = await currentCertExpiryMs(store);
  const names = subjectAltNames(new X509Certificate(raw), identity);
  const certPem = await ca.issue({
    csrPem: call.request.csrPem,
    nodeId: identity.nodeId,
    role: identity.role,
    ...names,
    validityMs,
  });
  return { identity, certPem, expiresAtMs: certificateLife(certPem).notAfterMs };
}

/** The extra names and addresses of a certificate the cluster issued (beyond those issue() always adds). */
export function subjectAltNames(
  cert: X509Certificate,
  identity: NodeIdentity,
): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) {
      const name = entry.slice(4);
      if (name !== identity.nodeId && name !== MANAGER_SERVER_NAME) dnsNames.push(name);
    } else if (entry.startsWith('IP Address:')) {
      ipAddresses.push(entry.slice('IP Address:'.length));
    }
  }
  return { dnsNames, ipAddresses };
}
