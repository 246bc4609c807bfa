import { type Cluster, Code, FlotillaError } from '@flotilla/api';
import { unseal } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { DataKey } from './data-key.js';

/** What the new CA key of a rotation is sealed for with the old key (CaRotation.sealed_new_ca_key). */
export const NEW_CA_KEY_PURPOSE = 'new CA key';

/** The CA a manager holds: the key, and the certificate it goes with. */
export interface HeldCa {
  caKeyPem: string;
  caCertPem: string;
}

/**
 * The CA keys a manager can try on the Cluster object's sealed data key: its own, and during a CA rotation the
 * new one (sealed with its own). The data key is sealed again with the new key only as the rotation ends, so a
 * manager that (re)starts at any point of a rotation opens it with one of these two.
 */
export function heldCaKeys(cluster: Cluster, caKeyPem: string): string[] {
  const keys = [caKeyPem];
  const sealedNext = cluster.caRotation?.sealedNewCaKey;
  if (sealedNext?.length) {
    try {
      keys.push(unseal(caKeyPem, NEW_CA_KEY_PURPOSE, sealedNext));
    } catch {
      // Not sealed with this manager's key: the rotation is not one this manager can follow; its own key only.
    }
  }
  return keys;
}

/** The sealed data key opened with the first of `caKeyPems` that opens it; refused (PermissionDenied) otherwise. */
export function openDataKey(sealed: Uint8Array, caKeyPems: readonly string[]): DataKey {
  for (const key of caKeyPems) {
    try {
      return DataKey.unsealWith(key, sealed);
    } catch {
      // The next key: the data key may already be sealed with a rotation's new CA key.
    }
  }
  throw new FlotillaError(
    Code.PermissionDenied,
    "the cluster's data key (secrets and configs) does not open with this manager's CA key: is the state " +
      'directory from this cluster, and was it kept through the last CA rotation?',
    { reason: 'untrusted' },
  );
}

/**
 * This manager's data key, held in memory: opened from the Cluster object, or, in a cluster made before secrets
 * and configs were (none sealed yet), made now and sealed with the cluster's current CA key in one
 * compare-and-swap, so managers that start together never make two (the one that loses reads the winner's).
 */
export async function clusterDataKey(store: Store, held: HeldCa): Promise<DataKey> {
  let made: DataKey | undefined;
  const updated = await store.modify('clusters', CLUSTER_KEY, (c) => {
    made = undefined;
    if (c.sealedDataKey.length > 0) return undefined;
    // Sealed with the key of the cluster's CA: a manager that has not caught up with a rotation's end has not.
    if (c.caCertPem.trim() !== held.caCertPem.trim()) {
      throw new FlotillaError(
        Code.Unavailable,
        'this manager has not caught up with the last CA rotation: start it again once it has',
      );
    }
    made = DataKey.generate();
    return { ...c, sealedDataKey: made.sealWith(held.caKeyPem) };
  });
  if (!updated) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
  return made ?? openDataKey(updated.value.sealedDataKey, heldCaKeys(updated.value, held.caKeyPem));
}
