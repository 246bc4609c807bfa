import { NodeCertificates } from '@flotilla/agent';
import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/** The manager's renewable certificates: its port and its calls to other managers follow each renewal. */
export function managerCertificates(identity: ManagerIdentity): NodeCertificates {
  return new NodeCertificates(
    { caCertPem: identity.ca.certPem, certPem: identity.certPem, keyPem: identity.keyPem },
    true,
  );
}

/**
 * TLS for the manager's port. The chain it presents ends with the CA certificate, so a joining node can read the
 * CA from the handshake and check it against its token's fingerprint. Client certificates are requested but not
 * required at the TLS layer (a joining node has none yet); every session checks its peer against the CA itself.
 * New connections get the certificate as it is then: a renewal needs no restart.
 */
export function managerCredentials(
  identity: ManagerIdentity,
  certificates: NodeCertificates = managerCertificates(identity),
): ServerCredentials {
  return certificates.serverCredentials(false);
}

/** This manager's own certificate as a client's: what a follower calls the leader with (renewals followed). */
export function managerClientCredentials(
  identity: ManagerIdentity,
  certificates: NodeCertificates = managerCertificates(identity),
): ChannelCredentials {
  return certificates.channelCredentials();
}
