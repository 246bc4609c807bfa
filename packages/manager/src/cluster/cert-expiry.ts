import { type Cluster, type ClusterSettings, Code, FlotillaError } from '@flotilla/api';
import { CA_VALIDITY_MS, MIN_CERT_EXPIRY_MS, NODE_CERT_VALIDITY_MS } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';

/** How long the cluster's new and renewed certificates live: its setting, or 90 days. */
export function certExpiryMs(settings: ClusterSettings | undefined): number {
  const set = Number(settings?.certExpiryMs ?? 0n);
  return set > 0 ? set : NODE_CERT_VALIDITY_MS;
}

/** The longest life any certificate of the cluster may have now: how long a revocation must be kept. */
export function longestCertExpiryMs(cluster: Cluster | undefined): number {
  return Math.max(NODE_CERT_VALIDITY_MS, Number(cluster?.longestCertExpiryMs ?? 0n), certExpiryMs(cluster?.settings));
}

/** The cluster's certificate life, read from etcd (the default while it cannot be read). */
export async function currentCertExpiryMs(store: Store): Promise<number> {
  return certExpiryMs((await store.get('clusters', CLUSTER_KEY))?.value.settings);
}

/**
 * Refuses a certificate life below the minimum or beyond the CA's own (which also keeps dates and the stored
 * int64 in range), saying what to give instead.
 */
export function checkCertExpiry(ms: bigint): void {
  if (ms < BigInt(MIN_CERT_EXPIRY_MS)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `a certificate expiry of ${ms} ms is too short: give at least 1m (certificates renew at 50-80 % of their life)`,
    );
  }
  if (ms > BigInt(CA_VALIDITY_MS)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `a certificate expiry of ${ms} ms is too long: give at most ${CA_VALIDITY_MS / 86_400_000}d, the life of the cluster CA`,
    );
  }
}
