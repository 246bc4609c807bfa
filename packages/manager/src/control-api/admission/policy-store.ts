import { AdmissionPolicy, type ClusterSettings } from '@flotilla/api';
import { CLUSTER_KEY, type Store, type Unchanged, type Versioned, type Write } from '@flotilla/store';

/**
 * The admission policy in the store. It has a key of its own (kind `admission`), so a write judged under it can
 * require it unchanged in the write's own transaction without also requiring the Cluster object unchanged, which
 * CA rotation, certificate bookkeeping and join-token rotation write often. `cluster update` writes the key with
 * the Cluster object's copy (ClusterSettings) in one transaction.
 *
 * A cluster made before the key existed has its policy only in ClusterSettings: it is read from there while the
 * key is absent (version 0), and the first `cluster update` creates the key. A read fallback rather than a copy
 * made when a leader starts: it holds from the first request after an upgrade or a restore of an older backup,
 * with no window in which a deploy would be judged under the default profile, and it needs no write at start.
 */
export async function readPolicy(store: Pick<Store, 'get'>): Promise<Versioned<AdmissionPolicy>> {
  const own = await store.get('admission', CLUSTER_KEY);
  if (own) return own;
  // Created between the two reads: the version 0 then fails the write's check, which reads again.
  const cluster = await store.get('clusters', CLUSTER_KEY);
  return { id: CLUSTER_KEY, value: policyOf(cluster?.value.settings), version: 0n };
}

/** What keeps a write from landing once the policy it was judged under has changed. */
export function policyUnchanged(policy: Versioned<AdmissionPolicy>): Unchanged {
  return { kind: 'admission', id: CLUSTER_KEY, version: policy.version };
}

/** The policy part of the cluster's settings. */
export function policyOf(settings: ClusterSettings | undefined): AdmissionPolicy {
  return AdmissionPolicy.fromPartial({
    securityProfile: settings?.securityProfile,
    allowedBindPrefixes: settings?.allowedBindPrefixes ?? [],
  });
}

/** The settings with the policy as it stands (the key's when present): what `cluster inspect` shows. */
export function withPolicy(settings: ClusterSettings, policy: AdmissionPolicy): ClusterSettings {
  return { ...settings, securityProfile: policy.securityProfile, allowedBindPrefixes: [...policy.allowedBindPrefixes] };
}

/** The write of the policy key that `next` settings need; none when the key already holds their policy. */
export function policyWrite(own: Versioned<AdmissionPolicy> | undefined, next: ClusterSettings): Write | undefined {
  const value = policyOf(next);
  if (!own) return { op: 'create', kind: 'admission', id: CLUSTER_KEY, value };
  const same =
    own.value.securityProfile === value.securityProfile &&
    own.value.allowedBindPrefixes.join('\n') === value.allowedBindPrefixes.join('\n');
  return same ? undefined : { op: 'update', kind: 'admission', id: CLUSTER_KEY, value, version: own.version };
}
