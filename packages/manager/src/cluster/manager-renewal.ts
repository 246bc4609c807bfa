import { X509Certificate } from 'node:crypto';
import { CertificateRenewer, type NodeCertificates } from '@flotilla/agent';
import type { Logger } from '@flotilla/observability';
import { certificateLife, readIdentity, StateDir } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import { currentCertExpiryMs } from './cert-expiry.js';
import { subjectAltNames } from './certificate-renewal.js';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/**
 * Reads the cluster's certificate life every so often: when the operator shortens it, this manager renews within
 * the new life (as agents do when their session tells them). Returns what stops it.
 */
export function followClusterLife(store: Store, renewer: CertificateRenewer, everyMs = 10_000): () => void {
  const check = () =>
    void currentCertExpiryMs(store).then(
      (ms) => renewer.clusterLife(ms),
      () => undefined, // etcd away: the next round reads it.
    );
  const timer = setInterval(check, everyMs);
  check();
  return () => clearInterval(timer);
}

export interface ManagerRenewalOptions {
  identity: ManagerIdentity;
  certificates: NodeCertificates;
  store: Store;
  stateDir: string;
  log: Logger;
  onRenewed?: (certPem: string) => void;
}

/**
 * A manager renews its own certificate as nodes do (at 50-80 % of its life, a new key each time), but issues it
 * itself: it holds the CA key. The same ID, role and names as before; refused once its identity is revoked (a
 * demoted manager's). The new pair is saved in the state directory and served to new connections.
 */
export function managerRenewer(options: ManagerRenewalOptions): CertificateRenewer {
  const { identity, certificates, store, log } = options;
  const dir = new StateDir(options.stateDir);
  return new CertificateRenewer({
    certificates,
    renew: async (csrPem) => {
      const current = new X509Certificate(certificates.current().certPem);
      // Valid, of this CA, and not revoked: the same check a peer's certificate gets.
      const who = identity.ca.verify(current);
      const validityMs = await currentCertExpiryMs(store).catch(() => {
        // etcd away: the life this certificate has, so the manager still renews in time.
        const life = certificateLife(current);
        return life.notAfterMs - life.notBeforeMs;
      });
      return identity.ca.issue({
        csrPem,
        nodeId: who.nodeId,
        role: readIdentity(current).role,
        ...subjectAltNames(current, who),
        validityMs,
      });
    },
    save: (certPem, keyPem) => {
      dir.replace('node.key', keyPem, true);
      dir.replace('node.crt', certPem);
    },
    ...(options.onRenewed ? { onRenewed: options.onRenewed } : {}),
    backoffMs: { first: 1_000, max: 30_000 },
    logger: log,
  });
}
