import { X509Certificate } from 'node:crypto';
import type { Revocation } from '@flotilla/api';
import { CERTIFICATE_ROLES, type CertificateRole, type EventLog } from '@flotilla/events';
import { certificateLife, readIdentity } from '@flotilla/pki';

/** Where certificate renewals and revocations go on the event log (nowhere for managers without Redis). */
export interface CertificateEvents {
  /** A certificate this manager issued by renewal (a node's or operator's), or its own. */
  renewed(certPem: string): void;
  /** A revocation as this manager saw it in etcd; only the leader writes it, so it is written once. */
  revoked(revocation: Revocation): void;
  /** A CA rotation started or ended, as this manager followed it; only the leader writes it. */
  caRotation(phase: 'started' | 'finished', fingerprint: string): void;
}

export function certificateEvents(log: EventLog | undefined, leading: () => boolean): CertificateEvents {
  return {
    renewed(certPem) {
      if (!log) return;
      const cert = new X509Certificate(certPem);
      const { nodeId, role } = readIdentity(cert);
      log.emit({ type: 'certificate.renewed', nodeId, role, expiresAt: certificateLife(cert).notAfterMs });
    },
    revoked({ subjectId, role, reason }) {
      if (!log || !leading()) return;
      const known = (CERTIFICATE_ROLES as readonly string[]).includes(role);
      log.emit({
        type: 'certificate.revoked',
        subjectId,
        ...(known ? { role: role as CertificateRole } : {}),
        reason,
      });
    },
    caRotation(phase, fingerprint) {
      if (!log || !leading()) return;
      log.emit({ type: 'certificate.ca-rotation', phase, fingerprint });
    },
  };
}
