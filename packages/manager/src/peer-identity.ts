import { X509Certificate } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';
import type { CertificateAuthority, NodeIdentity } from '@flotilla/pki';

export interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
}

/** The caller's identity from its client certificate, which must come from this cluster's CA and be valid now. */
export function peerIdentity(call: CallWithAuth, ca: CertificateAuthority): NodeIdentity {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw)
    throw new FlotillaError(Code.PermissionDenied, 'this call needs a certificate of the cluster (join first)', {
      reason: 'untrusted',
    });
  return ca.verify(new X509Certificate(raw));
}
