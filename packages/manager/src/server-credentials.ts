import { ServerCredentials } from '@grpc/grpc-js';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/**
 * TLS for the manager's port. The chain it presents ends with the CA certificate, so a joining node can read the
 * CA from the handshake and check it against its token's fingerprint. Client certificates are requested but not
 * required at the TLS layer (a joining node has none yet); every session checks its peer against the CA itself.
 */
export function managerCredentials(identity: ManagerIdentity): ServerCredentials {
  return ServerCredentials.createSsl(
    Buffer.from(identity.ca.certPem),
    [
      {
        private_key: Buffer.from(identity.keyPem),
        cert_chain: Buffer.from(`${identity.certPem.trim()}\n${identity.ca.certPem.trim()}\n`),
      },
    ],
    false,
  );
}
