import {
  CaRotation,
  type CaRotationProgress,
  type Cluster,
  Code,
  FlotillaError,
  NodeStatus_State,
} from '@flotilla/api';
import { CertificateAuthority, caFingerprint, generateJoinToken, seal, unseal } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { NEW_CA_KEY_PURPOSE, openDataKey } from '../secrets/cluster-data-key.js';
import type { ManagerIdentity } from './cluster-bootstrap.js';
import { TOKENS_PURPOSE } from './join-tokens.js';

/**
 * Starts a CA rotation: a new CA of the same cluster, cross-signed by the current one, its key sealed with the
 * current key (only managers can open it), all in the Cluster object in one compare-and-swap. A second rotation
 * while one is under way is refused; `force` ends the one under way instead (see finishRotation).
 */
export async function startRotation(store: Store, identity: ManagerIdentity): Promise<CaRotation> {
  const { ca: next, keyPem } = await CertificateAuthority.create(identity.clusterId);
  const rotation = CaRotation.fromPartial({
    newCaCertPem: next.certPem,
    sealedNewCaKey: seal(identity.caKeyPem, NEW_CA_KEY_PURPOSE, keyPem),
    crossSignedPem: await identity.ca.crossSign(next),
    startedAtMs: BigInt(Date.now()),
    renewedIds: [],
  });
  const updated = await store.modify('clusters', CLUSTER_KEY, (c) => {
    if (c.caRotation) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `a CA rotation is under way (to ${caFingerprint(c.caRotation.newCaCertPem).slice(0, 12)}): ` +
          'cluster inspect shows its progress; to end it now, run cluster ca --rotate --force',
        { reason: 'invalid' },
      );
    }
    if (c.caCertPem.trim() !== identity.ca.certPem.trim()) {
      throw new FlotillaError(Code.Unavailable, 'this manager has not caught up with the last CA rotation: try again');
    }
    return { ...c, caRotation: rotation };
  });
  if (!updated) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
  return rotation;
}

/** The new CA of a rotation, opened with the current CA key. */
export async function openRotation(
  rotation: CaRotation,
  caKeyPem: string,
): Promise<{ ca: CertificateAuthority; keyPem: string }> {
  const keyPem = unseal(caKeyPem, NEW_CA_KEY_PURPOSE, rotation.sealedNewCaKey);
  return { ca: await CertificateAuthority.load(rotation.newCaCertPem, keyPem), keyPem };
}

/**
 * Notes that a node or manager holds a certificate of the rotation's new CA (written by the manager that issued
 * it). Nothing when no rotation to that CA is under way.
 */
export async function recordRenewed(store: Store, newCaCertPem: string, id: string): Promise<void> {
  await store.modify(
    'clusters',
    CLUSTER_KEY,
    (c) => {
      const rotation = c.caRotation;
      if (!rotation || rotation.newCaCertPem !== newCaCertPem || rotation.renewedIds.includes(id)) return undefined;
      return { ...c, caRotation: { ...rotation, renewedIds: [...rotation.renewedIds, id] } };
    },
    20,
  );
}

/**
 * Who must hold a certificate of the new CA before the rotation ends: every node not marked down, and every
 * live manager. A node down through the whole rotation is not waited for: it joins again afterwards.
 */
export async function rotationProgress(
  store: Store,
  rotation: CaRotation,
  liveManagerIds: Iterable<string>,
): Promise<CaRotationProgress> {
  const nodes = await store.list('nodes');
  const due = new Set<string>(liveManagerIds);
  for (const node of nodes.items) {
    if (node.value.status?.state !== NodeStatus_State.STATE_DOWN) due.add(node.id);
  }
  const renewed = new Set(rotation.renewedIds);
  const pending = [...due].filter((id) => !renewed.has(id)).sort();
  return {
    newFingerprint: caFingerprint(rotation.newCaCertPem),
    startedAtMs: rotation.startedAtMs,
    renewed: due.size - pending.length,
    total: due.size,
    pendingIds: pending,
  };
}

/**
 * Ends the rotation to `newCaCertPem`: the new CA becomes the cluster's, the old one is no longer trusted, the
 * join tokens are new ones that pin the new CA (as swarm does), sealed with the new key, and the data key of
 * secrets and configs is sealed again with the new key (the same data key: no stored content changes). One
 * compare-and-swap: no reader ever sees the new CA with a data key it would need the old key for.
 */
export async function finishRotation(
  store: Store,
  newCaCertPem: string,
  newCaKeyPem: string,
  /** The CA key before the rotation, which the data key is sealed with until now. */
  oldCaKeyPem: string,
): Promise<boolean> {
  const workerToken = generateJoinToken(caFingerprint(newCaCertPem));
  const managerToken = generateJoinToken(caFingerprint(newCaCertPem));
  let finished = false;
  await store.modify('clusters', CLUSTER_KEY, (c): Cluster | undefined => {
    if (c.caRotation?.newCaCertPem !== newCaCertPem) return undefined;
    finished = true;
    const tokens = { worker: workerToken.token, manager: managerToken.token };
    const { caRotation: _ended, ...rest } = c;
    return {
      ...rest,
      caCertPem: newCaCertPem,
      workerTokenHash: workerToken.secretHash,
      managerTokenHash: managerToken.secretHash,
      sealedJoinTokens: seal(newCaKeyPem, TOKENS_PURPOSE, JSON.stringify(tokens)),
      sealedDataKey: rest.sealedDataKey.length
        ? openDataKey(rest.sealedDataKey, [oldCaKeyPem, newCaKeyPem]).sealWith(newCaKeyPem)
        : rest.sealedDataKey,
    };
  });
  return finished;
}
