import { timingSafeEqual } from 'node:crypto';
import { Code, FlotillaError, type Manager, type Node, type NodeSpec_Role, newId } from '@flotilla/api';
import { generateJoinToken, hashSecret, type ParsedToken } from '@flotilla/pki';
import type { Store, Versioned, Write } from '@flotilla/store';

/** How long a promoted node's agent has to start its manager and join with the credential it was sent. */
export const PROMOTION_TTL_MS = 10 * 60_000;

/**
 * A promotion's manager record, made before the node is told: listed at once (unreachable until the manager has
 * started), with the hash of a one-time credential that admits this one manager join. The credential itself is
 * returned to be sent over the node's session, and kept nowhere.
 */
export async function recordPromotion(
  store: Store,
  node: { id: string; hostname: string; managerAddress: string },
  caFingerprint: string,
  now = Date.now(),
  also: Write[] = [],
): Promise<{ manager: Manager; token: string }> {
  const { token, secretHash } = generateJoinToken(caFingerprint);
  const manager: Manager = {
    id: newId(),
    hostname: node.hostname,
    address: node.managerAddress,
    createdAtMs: BigInt(now),
    updatedAtMs: BigInt(now),
    demoted: false,
    etcdMember: false,
    nodeId: node.id,
    promotionSecretHash: secretHash,
    promotionExpiresAtMs: BigInt(now + PROMOTION_TTL_MS),
  };
  await store.batch([{ op: 'create', kind: 'managers', id: manager.id, value: manager }, ...also], {
    atomic: { what: 'a promotion' },
  });
  return { manager, token };
}

/**
 * The write that gives a node the role it has now (`node.role` in placement constraints, the ROLE column): a
 * manager once promoted, a worker again once demoted. Compared on its version: a node changed meanwhile makes the
 * caller's transaction fail, to be tried again.
 */
export function roleWrite(node: Versioned<Node>, role: NodeSpec_Role): Write {
  const spec = { ...(node.value.spec ?? { availability: 0, labels: {}, role }), role };
  return { op: 'update', kind: 'nodes', id: node.id, value: { ...node.value, spec }, version: node.version };
}

/**
 * The manager ID a promotion credential was made for, claimed: the record loses the credential's hash in the same
 * compare-and-swap, so a second join with it (a replay) is refused. Undefined when no promotion has this secret
 * (the caller then refuses the token as it refuses any other).
 */
export async function claimPromotion(store: Store, token: ParsedToken, now = Date.now()): Promise<string | undefined> {
  const hash = Buffer.from(hashSecret(token.secret), 'hex');
  const { items } = await store.list('managers');
  const match = items.find((m) => {
    const other = Buffer.from(m.value.promotionSecretHash, 'hex');
    return other.length === hash.length && timingSafeEqual(other, hash);
  });
  if (!match) return undefined;
  if (match.value.demoted || Number(match.value.promotionExpiresAtMs) < now) {
    throw new FlotillaError(
      Code.PermissionDenied,
      'this promotion has expired or was withdrawn: promote the node again (flotilla node promote NODE)',
      { reason: 'bad-token' },
    );
  }
  const claimed: Manager = { ...match.value, promotionSecretHash: '', promotionExpiresAtMs: 0n };
  // A concurrent claim changed the version first: this one fails, and the credential is spent either way.
  await store.batch([{ op: 'update', kind: 'managers', id: match.id, value: claimed, version: match.version }]);
  return match.id;
}

/** A manager record as the CLI may see it: without a pending promotion's hash. */
export function withoutSecrets(manager: Manager): Manager {
  return { ...manager, promotionSecretHash: '', promotionExpiresAtMs: 0n };
}
