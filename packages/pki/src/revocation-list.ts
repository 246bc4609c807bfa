import type { Revocation } from '@flotilla/api';
import type { NodeIdentity } from './node-identity.js';

/** The etcd key of a revocation: one per subject and role (a later one for the same replaces it). */
export function revocationKey(subjectId: string, role: string): string {
  return role ? `${subjectId}.${role}` : subjectId;
}

/**
 * The revoked identities, as every manager keeps them from etcd: a certificate is refused when its subject (and
 * role, where the revocation names one) is revoked and it was issued no later than the revocation. A certificate
 * issued after it (a demoted manager's worker certificate) is not covered. Revocations past their expiry cover
 * nothing that is still valid, and are ignored until they are pruned.
 */
export class RevocationList {
  private readonly bySubject = new Map<string, Map<string, Revocation>>();

  /** Replaces everything (a fresh list from etcd). */
  replace(revocations: Iterable<Revocation>): void {
    this.bySubject.clear();
    for (const r of revocations) this.add(r);
  }

  add(revocation: Revocation): void {
    let roles = this.bySubject.get(revocation.subjectId);
    if (!roles) {
      roles = new Map();
      this.bySubject.set(revocation.subjectId, roles);
    }
    roles.set(revocation.role, revocation);
  }

  remove(subjectId: string, role: string): void {
    const roles = this.bySubject.get(subjectId);
    roles?.delete(role);
    if (roles?.size === 0) this.bySubject.delete(subjectId);
  }

  /** The revocation that covers a certificate of this identity issued at `issuedAtMs`, if any. */
  covering(
    identity: Pick<NodeIdentity, 'nodeId' | 'role'>,
    issuedAtMs: number,
    now = Date.now(),
  ): Revocation | undefined {
    const roles = this.bySubject.get(identity.nodeId);
    if (!roles) return undefined;
    for (const r of [roles.get(''), roles.get(identity.role)]) {
      if (r && issuedAtMs <= Number(r.revokedAtMs) && now <= Number(r.expiresAtMs)) return r;
    }
    return undefined;
  }

  /** Revocations whose certificates have all expired by `now`: safe to delete. */
  expired(now = Date.now()): Revocation[] {
    return this.all().filter((r) => now > Number(r.expiresAtMs));
  }

  all(): Revocation[] {
    return [...this.bySubject.values()].flatMap((roles) => [...roles.values()]);
  }

  get size(): number {
    return this.all().length;
  }
}
