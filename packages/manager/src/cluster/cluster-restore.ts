import { Code, FlotillaError } from '@flotilla/api';
import { CertificateAuthority } from '@flotilla/pki';
import { CLUSTER_KEY, chunk, keyOf, prefixEnd, ROOT } from '@flotilla/store';
import type { Etcd3 } from 'etcd3';
import { openBackup, readBackupHeader } from './cluster-backup.js';
import { adoptCluster, type BootstrapOptions } from './cluster-bootstrap.js';

export interface RestoreOptions {
  /** The backup file's bytes, and its name for messages. */
  backup: { bytes: Buffer; name: string };
  passphrase: string;
  /** An etcd that holds no cluster: the restored keys go there. */
  client: Etcd3;
  /** A new state directory for the manager that will run the restored cluster. */
  stateDir: string;
  advertise: BootstrapOptions['advertise'];
}

export interface RestoreResult {
  clusterId: string;
  managerId: string;
  objects: number;
  takenAt: string;
}

/**
 * Brings a cluster back from a backup as a new single-manager cluster: the keys go into an empty etcd (every
 * put a create, so nothing is overwritten), and a new state directory gets the cluster's CA and a new manager
 * identity. The services, their tasks (slots and nodes), the nodes and the join tokens are those of the backup;
 * the managers of the old cluster are not (each records itself when it starts). The Cluster object is written
 * last: an etcd left half-restored by a failure holds no cluster, and a manager refuses to start on it.
 */
export async function restoreCluster(options: RestoreOptions): Promise<RestoreResult> {
  const file = readBackupHeader(options.backup.bytes, options.backup.name);
  const content = await openBackup(file, options.passphrase);
  const ca = await CertificateAuthority.load(content.caCertPem, content.caKeyPem);
  const { client } = options;
  const present = await client.kv.range({
    key: Buffer.from(ROOT),
    range_end: Buffer.from(prefixEnd(ROOT)),
    count_only: true,
  });
  if (Number(present.count) > 0) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      'the etcd to restore into already holds Flotilla data: restore into an empty etcd',
    );
  }
  const clusterKey = keyOf('clusters', CLUSTER_KEY);
  const puts = content.entries.map(([key, value]) => ({ key: `${ROOT}${key}`, value: Buffer.from(value, 'base64') }));
  const ordered = [...puts.filter((p) => p.key !== clusterKey), ...puts.filter((p) => p.key === clusterKey)];
  if (ordered.at(-1)?.key !== clusterKey) {
    throw new FlotillaError(Code.InvalidArgument, `${options.backup.name} holds no cluster object: not a whole backup`);
  }
  const identity = await adoptCluster(options.stateDir, ca, content.caKeyPem, options.advertise);
  for (const part of chunk(ordered, (p) => p.key.length + p.value.length)) {
    const response = await client.kv.txn({
      compare: part.map((p) => ({ key: Buffer.from(p.key), target: 'Create', create_revision: '0', result: 'Equal' })),
      success: part.map((p) => ({ request_put: { key: Buffer.from(p.key), value: p.value } })),
      failure: [],
    });
    if (!response.succeeded) {
      throw new FlotillaError(Code.Aborted, 'another writer put keys into the etcd during the restore: start over');
    }
  }
  return { clusterId: ca.clusterId, managerId: identity.nodeId, objects: ordered.length, takenAt: file.takenAt };
}
