import { existsSync, readdirSync, rmSync } from 'node:fs';
import { Code, FlotillaError } from '@flotilla/api';
import { CertificateAuthority } from '@flotilla/pki';
import { CLUSTER_KEY, chunk, connectEtcd, type EtcdOptions, keyOf, prefixEnd, ROOT } from '@flotilla/store';
import type { Etcd3 } from 'etcd3';
import { openBackup, readBackupHeader } from './cluster-backup.js';
import { adoptCluster, type BootstrapOptions } from './cluster-bootstrap.js';
import type { EmbeddedEtcd } from './embedded-etcd.js';

export interface RestoreOptions {
  /** The backup file's bytes, and its name for messages. */
  backup: { bytes: Buffer; name: string };
  passphrase: string;
  /**
   * Where the keys go: an external etcd that holds no Flotilla data, or the new manager's own member (made now in
   * the state directory, on the addresses `manager start` will give it).
   */
  etcd: EtcdOptions | { embedded: EmbeddedEtcd };
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
  const { stateDir } = options;
  // A failed restore leaves no state directory that a manager would start on: only one that was empty is used.
  if (!unused(stateDir)) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${stateDir} is not empty: restore into a new, empty state directory`,
    );
  }
  const embedded = 'embedded' in options.etcd ? options.etcd.embedded : undefined;
  let client: Etcd3 | undefined;
  try {
    const identity = await adoptCluster(stateDir, ca, content.caKeyPem, options.advertise);
    const etcd = embedded
      ? await embedded.start({ ca, nodeId: identity.nodeId, start: { kind: 'new' } })
      : (options.etcd as EtcdOptions);
    client = connectEtcd(etcd);
    const objects = await writeKeys(client, content.entries, options.backup.name);
    return { clusterId: ca.clusterId, managerId: identity.nodeId, objects, takenAt: file.takenAt };
  } catch (err) {
    await embedded?.stop({ discard: true });
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  } finally {
    client?.close();
    await embedded?.stop();
  }
}

/** Absent or empty. */
function unused(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/** The backup's keys into an etcd that holds none of Flotilla's, every put a create, the Cluster object last. */
async function writeKeys(client: Etcd3, entries: [string, string][], name: string): Promise<number> {
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
  const puts = entries.map(([key, value]) => ({ key: `${ROOT}${key}`, value: Buffer.from(value, 'base64') }));
  const ordered = [...puts.filter((p) => p.key !== clusterKey), ...puts.filter((p) => p.key === clusterKey)];
  if (ordered.at(-1)?.key !== clusterKey) {
    throw new FlotillaError(Code.InvalidArgument, `${name} holds no cluster object: not a whole backup`);
  }
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
  return ordered.length;
}
