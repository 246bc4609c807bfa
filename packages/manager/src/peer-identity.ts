import { X509Certificate } from 'node:crypto';
import { type CertificateAuthority, type NodeIdentity, PkiError } from '@flotilla/pki';

export interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
}

/** The caller's identity from its client certificate, which must come from this cluster's CA and be valid now. */
export function peerIdentity(call: CallWithAuth, ca: CertificateAuthority): NodeIdentity {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw) throw new PkiError('untrusted', 'this call needs a certificate of the cluster (join first)');
  return ca.verify(new X509Certificate(raw));
}
