import { Revocation } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { type CertificateAuthority, type NodeRole, RevocationList, revocationKey } from '@flotilla/pki';
import { CLUSTER_KEY, Informer, type Store, type Write } from '@flotilla/store';
import { longestCertExpiryMs } from './cert-expiry.js';

/** Who to revoke: a node, manager or operator ID, and optionally only its certificates of one role. */
export interface RevokeRequest {
  subjectId: string;
  /** Only this role's certificates (a demoted manager keeps its node ID); absent: every role. */
  role?: NodeRole;
  /** Shown in listings and events: "node removed", "manager demoted", "operator revoked". */
  reason: string;
}

/** Kept past the longest certificate life by this much: certificates are backdated a minute when issued. */
const BACKDATE_MARGIN_MS = 2 * 60_000;

/**
 * The writes that revoke an identity, for a batch with whatever must happen with it (a node's removal), and the
 * deletion of revocations whose certificates have all expired.
 */
export async function revocationWrites(store: Store, request: RevokeRequest, now = Date.now()): Promise<Write[]> {
  const [cluster, existing] = await Promise.all([store.get('clusters', CLUSTER_KEY), store.list('revocations')]);
  const role = request.role ?? '';
  const id = revocationKey(request.subjectId, role);
  const value = Revocation.fromPartial({
    subjectId: request.subjectId,
    role,
    revokedAtMs: BigInt(now),
    expiresAtMs: BigInt(now + longestCertExpiryMs(cluster?.value) + BACKDATE_MARGIN_MS),
    reason: request.reason,
  });
  // A few at a time: the revocation and its removal stay within one transaction.
  const pruned = existing.items.filter((r) => r.id !== id && now > Number(r.value.expiresAtMs)).slice(0, 64);
  return [
    { op: 'put', kind: 'revocations', id, value },
    ...pruned.map((r): Write => ({ op: 'delete', kind: 'revocations', id: r.id, version: r.version })),
  ];
}

/**
 * Revokes an identity's certificates at once: every manager refuses them on the next call, and the leader ends the
 * node's session. What node removal does, and what demotion calls (with role 'manager').
 */
export async function revokeIdentity(store: Store, request: RevokeRequest): Promise<void> {
  await store.batch(await revocationWrites(store, request));
}

export interface RevocationWatchOptions {
  /** Told each new revocation (the leader ends that node's session; events). */
  onRevoked?: (revocation: Revocation) => void;
  /** Told after each change of the list, relists included (what was checked before is checked again). */
  onChanged?: () => void;
  logger?: Pick<Logger, 'info'>;
}

/**
 * The revocations as this manager keeps them: watched in etcd, handed to its CA, whose verify() (every call's
 * peer check) then refuses the revoked certificates.
 */
export class RevocationWatch {
  readonly list = new RevocationList();
  private readonly informer: Informer<'revocations'>;

  constructor(
    store: Store,
    ca: CertificateAuthority,
    private readonly options: RevocationWatchOptions = {},
  ) {
    this.informer = new Informer(store, 'revocations');
    ca.useRevocations(this.list);
    this.informer.subscribe((set) => {
      if (set.relisted) this.list.replace(this.informer.list().map((r) => r.value));
      for (const change of set.changes) {
        if (change.type === 'delete') {
          if (change.previous) this.list.remove(change.previous.subjectId, change.previous.role);
          continue;
        }
        this.list.add(change.value);
        if (!set.relisted) this.revoked(change.value);
      }
      this.options.onChanged?.();
    });
  }

  /** Lists the revocations (resolves once this manager holds them) and follows them. */
  async start(): Promise<void> {
    await this.informer.start();
    this.list.replace(this.informer.list().map((r) => r.value));
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  private revoked(revocation: Revocation): void {
    const { subjectId, role, reason } = revocation;
    this.options.logger?.info({ subject: subjectId, role: role || 'any', reason }, 'certificates revoked');
    this.options.onRevoked?.(revocation);
  }
}
