import { type Cluster, ClusterSettings, Code, FlotillaError } from '@flotilla/api';
import { CLUSTER_KEY, type Store, type Write } from '@flotilla/store';
import { policyOf, policyWrite, withPolicy } from './admission/policy-store.js';

/** The Cluster object with its settings as they stand (the admission policy from its own key when present). */
export async function readSettings(store: Pick<Store, 'get'>): Promise<Cluster | undefined> {
  const [cluster, own] = await Promise.all([store.get('clusters', CLUSTER_KEY), store.get('admission', CLUSTER_KEY)]);
  if (!cluster) return undefined;
  const settings = ClusterSettings.fromPartial(cluster.value.settings ?? {});
  return { ...cluster.value, settings: withPolicy(settings, own?.value ?? policyOf(settings)) };
}

/**
 * Read-modify-write of the cluster's settings: the Cluster object (which keeps a copy of the admission policy, for
 * readers of ClusterSettings) and the policy's own key in one transaction, both compared, read again and retried
 * when either changed in between. `mutate` is given the Cluster object with the policy as it stands. Resolves
 * with the object written, or undefined when the cluster is not initialized.
 */
export async function modifySettings(
  store: Store,
  mutate: (current: Cluster) => Cluster,
  attempts = 5,
): Promise<Cluster | undefined> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const [cluster, own] = await Promise.all([store.get('clusters', CLUSTER_KEY), store.get('admission', CLUSTER_KEY)]);
    if (!cluster) return undefined;
    const settings = ClusterSettings.fromPartial(cluster.value.settings ?? {});
    const next = mutate({ ...cluster.value, settings: withPolicy(settings, own?.value ?? policyOf(settings)) });
    const policy = policyWrite(own, ClusterSettings.fromPartial(next.settings ?? {}));
    const writes: Write[] = [
      { op: 'update', kind: 'clusters', id: CLUSTER_KEY, value: next, version: cluster.version },
      ...(policy ? [policy] : []),
    ];
    try {
      await store.batch(writes, { atomic: { what: 'the update of the cluster settings' } });
      return next;
    } catch (err) {
      if (!(err instanceof FlotillaError) || err.reason !== 'conflict') throw err;
    }
  }
  throw new FlotillaError(
    Code.Aborted,
    `the cluster settings kept changing while they were updated (${attempts} attempts): run cluster update again`,
    { reason: 'conflict' },
  );
}
