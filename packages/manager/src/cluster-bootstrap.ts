import { Cluster, ClusterSettings_Strategy, newId } from '@flotilla/api';
import { CertificateAuthority, createKeyAndCsr, generateJoinToken, StateDir } from '@flotilla/pki';
import type { Store } from '@flotilla/store';

/** The single Cluster object's ID in the store. */
export const CLUSTER_KEY = 'default';

export interface ManagerIdentity {
  ca: CertificateAuthority;
  clusterId: string;
  /** This manager's own node ID, certificate and key (it serves TLS and is a node of the cluster). */
  nodeId: string;
  certPem: string;
  keyPem: string;
  /** Join tokens, readable only from the state directory of a manager that made them. */
  tokens: { worker: string; manager: string };
  /** A certificate for the CLI (role operator), so the operator can use the control API. */
  operator: { certPem: string; keyPem: string };
}

export const DEFAULT_SETTINGS = {
  heartbeatPeriodMs: 1_000n,
  heartbeatGracePeriods: 3,
  selfFenceTimeoutMs: 10_000n,
  placementStrategy: ClusterSettings_Strategy.STRATEGY_SPREAD,
  taskHistoryLimit: 5,
};

/**
 * The first manager creates the cluster: a CA (key file 0600 in its state directory), its own certificate,
 * the two join tokens (only their hashes go to etcd) and the Cluster object. Started again with the same state
 * directory, it loads all of that instead.
 */
export async function bootstrapCluster(
  store: Store,
  stateDir: string,
  advertise: { hosts: string[]; ips: string[] },
): Promise<ManagerIdentity> {
  const dir = new StateDir(stateDir);
  if (dir.has('ca.key')) return load(dir);

  const clusterId = newId();
  const { ca, keyPem: caKey } = await CertificateAuthority.create(clusterId);
  const worker = generateJoinToken(ca.fingerprint);
  const manager = generateJoinToken(ca.fingerprint);
  const nodeId = newId();
  const own = await createKeyAndCsr();
  const certPem = await ca.issue({
    csrPem: own.csrPem,
    nodeId,
    role: 'manager',
    dnsNames: advertise.hosts,
    ipAddresses: advertise.ips,
  });
  const operatorKeys = await createKeyAndCsr();
  const operatorCert = await ca.issue({ csrPem: operatorKeys.csrPem, nodeId: newId(), role: 'operator' });
  await store.create(
    'clusters',
    CLUSTER_KEY,
    Cluster.fromPartial({
      id: clusterId,
      settings: DEFAULT_SETTINGS,
      createdAtMs: BigInt(Date.now()),
      caCertPem: ca.certPem,
      workerTokenHash: worker.secretHash,
      managerTokenHash: manager.secretHash,
    }),
  );
  dir.write('ca.crt', ca.certPem);
  dir.write('ca.key', caKey, true);
  dir.write('node.crt', certPem);
  dir.write('node.key', own.keyPem, true);
  dir.write('node.json', `${JSON.stringify({ nodeId, clusterId })}\n`);
  dir.write('join-tokens.json', `${JSON.stringify({ worker: worker.token, manager: manager.token })}\n`, true);
  dir.write('operator.crt', operatorCert);
  dir.write('operator.key', operatorKeys.keyPem, true);
  return {
    ca,
    clusterId,
    nodeId,
    certPem,
    keyPem: own.keyPem,
    tokens: { worker: worker.token, manager: manager.token },
    operator: { certPem: operatorCert, keyPem: operatorKeys.keyPem },
  };
}

async function load(dir: StateDir): Promise<ManagerIdentity> {
  const ca = await CertificateAuthority.load(dir.read('ca.crt'), dir.read('ca.key'));
  const { nodeId } = JSON.parse(dir.read('node.json')) as { nodeId: string };
  const tokens = JSON.parse(dir.read('join-tokens.json')) as ManagerIdentity['tokens'];
  return {
    ca,
    clusterId: ca.clusterId,
    nodeId,
    certPem: dir.read('node.crt'),
    keyPem: dir.read('node.key'),
    tokens,
    operator: { certPem: dir.read('operator.crt'), keyPem: dir.read('operator.key') },
  };
}
