import { type ChannelCredentials, credentials, experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/** Hands fixed certificates to gRPC's certificate-provider credentials (the only ones with optional client certs). */
class StaticCertificates implements experimental.CertificateProvider {
  constructor(
    private readonly ca: experimental.CaCertificateUpdate,
    private readonly identity: experimental.IdentityCertificateUpdate,
  ) {}

  // Answered after the call returns: gRPC registers its watcher only after adding the listener.
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => listener(this.ca));
  }

  removeCaCertificateListener(): void {}

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener(this.identity));
  }

  removeIdentityCertificateListener(): void {}
}

/**
 * TLS for the manager's port. The chain it presents ends with the CA certificate, so a joining node can read the
 * CA from the handshake and check it against its token's fingerprint. Client certificates are requested but not
 * required at the TLS layer (a joining node has none yet); every session checks its peer against the CA itself.
 */
export function managerCredentials(identity: ManagerIdentity): ServerCredentials {
  const certificates = new StaticCertificates(
    { caCertificate: Buffer.from(identity.ca.certPem) },
    {
      certificate: Buffer.from(`${identity.certPem.trim()}\n${identity.ca.certPem.trim()}\n`),
      privateKey: Buffer.from(identity.keyPem),
    },
  );
  return experimental.createCertificateProviderServerCredentials(certificates, certificates, false);
}

/** This manager's own certificate as a client's: what a follower calls the leader with. */
export function managerClientCredentials(identity: ManagerIdentity): ChannelCredentials {
  return credentials.createSsl(
    Buffer.from(identity.ca.certPem),
    Buffer.from(identity.keyPem),
    Buffer.from(identity.certPem),
  );
}
