import type { CertificateRenewer, NodeCertificates } from '@flotilla/agent';
import type { CaRotation, Cluster } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { caFingerprint, issuedBy, StateDir } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { finishRotation, openRotation, recordRenewed, rotationProgress } from './ca-rotation.js';
import type { ManagerIdentity } from './cluster-bootstrap.js';
import type { EtcdRotation } from './etcd-rotation.js';
import { openTokens } from './join-tokens.js';

export type RotationPhase = 'started' | 'finished';

export interface CaRotationFollowerOptions {
  store: Store;
  identity: ManagerIdentity;
  stateDir: string;
  /** This manager's certificates: they trust the CAs of the rotation, and are renewed at its start and end. */
  certificates: NodeCertificates;
  renewer: CertificateRenewer;
  /**
   * This manager's own etcd member, when it runs one: its certificate and trust follow the rotation, and this
   * manager counts as renewed only once its member (and its etcd client) hold a certificate of the new CA.
   */
  etcd?: EtcdRotation;
  leading: () => boolean;
  /** The managers the rotation waits for (the live candidates). */
  liveManagerIds: () => Iterable<string>;
  /** Told when this manager's CA changes: sessions are told again, the CLI's configuration rewritten, events. */
  onPhase?: (phase: RotationPhase, newFingerprint: string) => void;
  log: Logger;
  everyMs?: number;
}

/**
 * A manager's side of a CA rotation, read from the Cluster object every so often: at the start it opens the new CA
 * key (sealed with the old one), issues with the new CA and trusts both, and renews its own certificate; the
 * leader ends the rotation once every node and manager holds a certificate of the new CA; at the end each manager
 * trusts only the new CA and keeps it (ca.crt, ca.key 0600) in its state directory.
 */
export class CaRotationFollower {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The rotation this manager follows now: the new CA and its key. */
  private next: { certPem: string; keyPem: string } | undefined;

  constructor(private readonly options: CaRotationFollowerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.everyMs ?? 1_000);
    void this.check();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One look at the Cluster object (one at a time); etcd away or a failed step: the next look tries again. */
  check(): Promise<void> {
    this.running ??= this.step()
      .catch((err: unknown) => this.options.log.warn({ err: (err as Error).message }, 'CA rotation step failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async step(): Promise<void> {
    const cluster = (await this.options.store.get('clusters', CLUSTER_KEY))?.value;
    if (!cluster) return;
    const rotation = cluster.caRotation;
    if (rotation && this.next?.certPem !== rotation.newCaCertPem) await this.begin(rotation);
    if (!rotation && this.next && cluster.caCertPem === this.next.certPem) await this.end(cluster);
    // The member starts again (in its turn) to trust what its CA file says: both CAs, then the new one only.
    const settled = (await this.options.etcd?.settle()) ?? true;
    if (!rotation || !this.next) return;
    const { identity, store } = this.options;
    const own = this.options.certificates.current().certPem;
    if (settled && issuedBy(own, this.next.certPem) && !rotation.renewedIds.includes(identity.nodeId))
      await recordRenewed(store, rotation.newCaCertPem, identity.nodeId);
    if (!this.options.leading()) return;
    const progress = await rotationProgress(store, rotation, this.options.liveManagerIds());
    if (progress.renewed < progress.total) return;
    if (!(await finishRotation(store, rotation.newCaCertPem, this.next.keyPem, identity.caKeyPem))) return;
    this.options.log.info({ fingerprint: progress.newFingerprint }, 'CA rotation finished');
    // This manager (the leader, where sessions open) refuses the old CA at once; the others within a look.
    const ended = (await store.get('clusters', CLUSTER_KEY))?.value;
    if (ended && !ended.caRotation && ended.caCertPem === this.next.certPem) await this.end(ended);
  }

  private async begin(rotation: CaRotation): Promise<void> {
    const { identity, certificates, log } = this.options;
    const { ca: next, keyPem } = await openRotation(rotation, identity.caKeyPem);
    identity.ca.beginRotation(next, rotation.crossSignedPem);
    this.options.etcd?.begin(identity.ca);
    this.next = { certPem: rotation.newCaCertPem, keyPem };
    certificates.replaceCa(identity.ca.trustPem, servedChain(identity));
    const fingerprint = caFingerprint(rotation.newCaCertPem);
    log.info({ fingerprint }, 'CA rotation under way: issuing with the new CA, trusting both');
    this.options.onPhase?.('started', fingerprint);
    await this.options.renewer.renewNow();
  }

  private async end(cluster: Cluster): Promise<void> {
    const { identity, certificates, log } = this.options;
    const next = this.next as { certPem: string; keyPem: string };
    identity.ca.finishRotation();
    identity.caKeyPem = next.keyPem;
    const dir = new StateDir(this.options.stateDir);
    dir.replace('ca.key', next.keyPem, true);
    dir.replace('ca.crt', next.certPem);
    identity.tokens = openTokens(cluster, next.keyPem);
    this.next = undefined;
    this.options.etcd?.end(identity.ca);
    certificates.replaceCa(identity.ca.trustPem, servedChain(identity));
    const fingerprint = caFingerprint(next.certPem);
    log.info({ fingerprint }, 'CA rotation ended: only the new CA is trusted');
    this.options.onPhase?.('finished', fingerprint);
    // Its own certificate without the cross-signed CA, which only peers of the old CA needed.
    await this.options.renewer.renewNow();
  }
}

/** What a manager's port presents after its own certificate: the cross-signed CA during a rotation, and the CA. */
function servedChain(identity: ManagerIdentity): string {
  const { intermediatePem, certPem } = identity.ca;
  return intermediatePem ? `${intermediatePem.trim()}\n${certPem.trim()}\n` : certPem;
}
