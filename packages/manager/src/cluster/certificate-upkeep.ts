import type { CertificateRenewer, NodeCertificates } from '@flotilla/agent';
import type { Revocation } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import type { Store } from '@flotilla/store';
import type { ManagerIdentity } from './cluster-bootstrap.js';
import { followClusterLife, managerRenewer } from './manager-renewal.js';
import { RevocationWatch } from './revocations.js';
import { managerCertificates } from './server-credentials.js';

/** A manager's certificates over time: its own, renewed, and those of others, refused once revoked. */
export interface CertificateUpkeep {
  /** This manager's certificate and key as they are now: its port and its client calls follow them. */
  certificates: NodeCertificates;
  renewer: CertificateRenewer;
  revocations: RevocationWatch;
  /** Starts renewing (once the port serves). */
  startRenewing(): void;
  stop(): Promise<void>;
}

export interface CertificateUpkeepOptions {
  identity: ManagerIdentity;
  store: Store;
  stateDir: string;
  log: Logger;
  /** Ends a node's session (the leader's dispatcher, while this manager leads). */
  disconnect(nodeId: string): void;
  /** Told each revocation seen, and each renewal of this manager's own certificate (events). */
  onRevoked?: (revocation: Revocation) => void;
  /** Told after each change of the revocation list, relists included (open calls are checked again). */
  onRevocationsChanged?: () => void;
  onRenewed?: (certPem: string) => void;
}

/**
 * Loads the revocations (resolved once this manager holds them, so that no call is answered with a certificate
 * etcd says is revoked) and makes the renewer of this manager's own certificate. The identity follows renewals,
 * for whoever reads it later.
 */
export async function certificateUpkeep(options: CertificateUpkeepOptions): Promise<CertificateUpkeep> {
  const { identity, store, log } = options;
  const certificates = managerCertificates(identity);
  const revocations = new RevocationWatch(store, identity.ca, {
    // Operators hold no session; a revoked node's or manager's session ends at once (it cannot open another).
    onRevoked: (r) => {
      if (r.role !== 'operator') options.disconnect(r.subjectId);
      options.onRevoked?.(r);
    },
    ...(options.onRevocationsChanged ? { onChanged: options.onRevocationsChanged } : {}),
    logger: log,
  });
  await revocations.start();
  const renewer = managerRenewer({
    identity,
    certificates,
    store,
    stateDir: options.stateDir,
    log,
    ...(options.onRenewed ? { onRenewed: options.onRenewed } : {}),
  });
  certificates.onChange(({ certPem, keyPem }) => {
    identity.certPem = certPem;
    identity.keyPem = keyPem;
  });
  let stopFollowing = () => {};
  return {
    certificates,
    renewer,
    revocations,
    startRenewing() {
      renewer.start();
      stopFollowing = followClusterLife(store, renewer);
    },
    async stop() {
      stopFollowing();
      renewer.stop();
      await revocations.stop();
    },
  };
}
