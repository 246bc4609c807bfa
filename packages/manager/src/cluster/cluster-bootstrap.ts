import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { joinCluster } from '@flotilla/agent';
import { Cluster, ClusterSettings_Strategy, Code, FlotillaError, newId } from '@flotilla/api';
import {
  CertificateAuthority,
  certificateLife,
  createKeyAndCsr,
  generateJoinToken,
  pastHalfLife,
  readIdentity,
  revocationKey,
  StateDir,
  seal,
} from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { clusterDataKey } from '../secrets/cluster-data-key.js';
import { DataKey } from '../secrets/data-key.js';
import { currentCertExpiryMs } from './cert-expiry.js';
import type { MemberIdentity } from './embedded-etcd.js';
import { openTokens, TOKENS_PURPOSE } from './join-tokens.js';

export interface ManagerIdentity {
  ca: CertificateAuthority;
  /** The CA key (PEM): signs node certificates, seals the join tokens, and is handed to joining managers. */
  caKeyPem: string;
  clusterId: string;
  /** This manager's own node ID, certificate and key (it serves TLS with them). */
  nodeId: string;
  certPem: string;
  keyPem: string;
  /** The join tokens as they were when this manager started (they are kept sealed in the Cluster object). */
  tokens: { worker: string; manager: string };
  /** A certificate for the CLI (role operator), so the operator can use the control API. */
  operator: { certPem: string; keyPem: string };
  /**
   * The key every secret's and config's content is sealed with, opened from the Cluster object with the CA key and
   * held in memory only. It stays the same through CA rotations (only its seal changes).
   */
  dataKey: DataKey;
}

/** What a state directory holds of an identity; the rest comes from the store. */
type WrittenIdentity = Omit<ManagerIdentity, 'tokens' | 'dataKey'>;

export const DEFAULT_SETTINGS = {
  heartbeatPeriodMs: 1_000n,
  heartbeatGracePeriods: 3,
  // Below the heartbeat grace (3 × 1 s): a cut-off node stops its tasks before the managers replace them.
  selfFenceTimeoutMs: 2_000n,
  placementStrategy: ClusterSettings_Strategy.STRATEGY_SPREAD,
  taskHistoryLimit: 5,
};

/**
 * Reaches the store once the manager knows its CA and node ID, before the store is first read: a manager that
 * brings its own etcd member starts it there, with a certificate from that CA.
 */
export type StoreConnector = (member: MemberIdentity) => Promise<Store>;

export interface BootstrapOptions {
  /** Names and addresses clients may dial this manager by (they go into its certificate when it makes one). */
  advertise: { hosts: string[]; ips: string[] };
  /** Join an existing cluster through one of its managers, with the manager token. */
  join?: { manager: string; token: string };
}

/**
 * A manager's identity, three ways. With a CA key in its state directory, it loads what is there. With `join`,
 * it joins an existing cluster through another manager and receives the CA key over that TLS connection (which
 * it trusted only after checking the CA against the token's fingerprint). Otherwise it creates the cluster: a CA
 * (key file 0600 in its state directory), its own certificate, the two join tokens (hashes, and the tokens sealed
 * with the CA key) and the Cluster object; an etcd that already holds a cluster is refused.
 */
export async function bootstrapCluster(
  store: Store | StoreConnector,
  stateDir: string,
  options: BootstrapOptions,
): Promise<ManagerIdentity> {
  const connect: StoreConnector = typeof store === 'function' ? store : async () => store;
  const dir = new StateDir(stateDir);
  if (dir.has('ca.key')) return load(connect, dir);
  if (options.join) return joinAsManager(connect, dir, options.join);
  return create(connect, dir, options);
}

/** A new cluster: its CA first (an embedded etcd member needs a certificate from it), then the Cluster object. */
async function create(connect: StoreConnector, dir: StateDir, options: BootstrapOptions): Promise<ManagerIdentity> {
  const clusterId = newId();
  const { ca, keyPem: caKeyPem } = await CertificateAuthority.create(clusterId);
  const nodeId = newId();
  const store = await connect({ ca, nodeId, start: { kind: 'new' } });
  const existing = await store.get('clusters', CLUSTER_KEY);
  if (existing) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `etcd already holds cluster ${existing.value.id}: to add a manager to it, start with --join MANAGER:PORT ` +
        '--token TOKEN (flotilla join-token manager); to start a new cluster, use another etcd',
      { reason: 'invalid' },
    );
  }
  const worker = generateJoinToken(ca.fingerprint);
  const manager = generateJoinToken(ca.fingerprint);
  const tokens = { worker: worker.token, manager: manager.token };
  const own = await issueOwnCertificate(ca, nodeId, options.advertise);
  const dataKey = DataKey.generate();
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
      sealedJoinTokens: seal(caKeyPem, TOKENS_PURPOSE, JSON.stringify(tokens)),
      sealedDataKey: dataKey.sealWith(caKeyPem),
    }),
  );
  return { ...(await writeIdentity(dir, ca, caKeyPem, { nodeId, ...own })), tokens, dataKey };
}

/**
 * A new manager of a cluster whose CA it was given (a restore from a backup): its own key and certificate, and
 * the CLI's, written to a new state directory the way the manager that creates a cluster writes them.
 */
export async function adoptCluster(
  stateDir: string,
  ca: CertificateAuthority,
  caKeyPem: string,
  advertise: BootstrapOptions['advertise'],
): Promise<WrittenIdentity> {
  const dir = new StateDir(stateDir);
  if (dir.has('ca.key')) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${stateDir} already holds a manager's state: restore into a new, empty state directory`,
      { reason: 'invalid' },
    );
  }
  const nodeId = newId();
  return writeIdentity(dir, ca, caKeyPem, { nodeId, ...(await issueOwnCertificate(ca, nodeId, advertise)) });
}

/** A manager's own key and certificate (named for its advertised hosts and addresses), from the CA it holds. */
async function issueOwnCertificate(
  ca: CertificateAuthority,
  nodeId: string,
  advertise: BootstrapOptions['advertise'],
): Promise<{ certPem: string; keyPem: string }> {
  const own = await createKeyAndCsr();
  const certPem = await ca.issue({
    csrPem: own.csrPem,
    nodeId,
    role: 'manager',
    dnsNames: advertise.hosts,
    ipAddresses: advertise.ips,
  });
  return { certPem, keyPem: own.keyPem };
}

/** The state directory of a manager that holds the CA: the CA, its own certificate and key, and the CLI's. */
async function writeIdentity(
  dir: StateDir,
  ca: CertificateAuthority,
  caKeyPem: string,
  own: { nodeId: string; certPem: string; keyPem: string },
): Promise<WrittenIdentity> {
  dir.write('ca.crt', ca.certPem);
  dir.write('ca.key', caKeyPem, true);
  dir.write('node.crt', own.certPem);
  dir.write('node.key', own.keyPem, true);
  dir.write('node.json', `${JSON.stringify({ nodeId: own.nodeId, clusterId: ca.clusterId })}\n`);
  const operator = await issueOperator(ca, dir);
  return { ca, caKeyPem, clusterId: ca.clusterId, ...own, operator };
}

async function joinAsManager(
  connect: StoreConnector,
  dir: StateDir,
  join: { manager: string; token: string },
): Promise<ManagerIdentity> {
  const joined = await joinCluster({
    ...join,
    stateDir: dir.path,
    asManager: true,
    description: { hostname: hostname(), os: process.platform, architecture: process.arch },
  });
  if (!joined.caKeyPem)
    throw new FlotillaError(Code.PermissionDenied, `the manager at ${join.manager} did not send the CA key`, {
      reason: 'untrusted',
    });
  const ca = await CertificateAuthority.load(joined.caCertPem, joined.caKeyPem);
  const etcdClientUrls = joined.etcdClientUrls ?? [];
  const store = await connect({ ca, nodeId: joined.nodeId, start: { kind: 'join', etcdClientUrls } });
  // Written once the store is reached: a join that failed before is tried afresh at the next start.
  dir.write('ca.key', joined.caKeyPem, true);
  dir.write('node.json', `${JSON.stringify({ nodeId: joined.nodeId, clusterId: ca.clusterId })}\n`);
  const operator = await issueOperator(ca, dir, await currentCertExpiryMs(store));
  return {
    ca,
    caKeyPem: joined.caKeyPem,
    clusterId: ca.clusterId,
    nodeId: joined.nodeId,
    certPem: joined.certPem,
    keyPem: joined.keyPem,
    tokens: await currentTokens(store, joined.caKeyPem),
    operator,
    dataKey: await clusterDataKey(store, { caKeyPem: joined.caKeyPem, caCertPem: ca.certPem }),
  };
}

async function load(connect: StoreConnector, dir: StateDir): Promise<ManagerIdentity> {
  const caKeyPem = dir.read('ca.key');
  const ca = await CertificateAuthority.load(dir.read('ca.crt'), caKeyPem);
  const { nodeId } = JSON.parse(dir.read('node.json')) as { nodeId: string };
  const store = await connect({ ca, nodeId, start: { kind: 'restart' } });
  return {
    ca,
    caKeyPem,
    clusterId: ca.clusterId,
    nodeId,
    certPem: dir.read('node.crt'),
    keyPem: dir.read('node.key'),
    tokens: await currentTokens(store, caKeyPem),
    operator: await freshOperator(store, ca, dir),
    dataKey: await clusterDataKey(store, { caKeyPem, caCertPem: ca.certPem }),
  };
}

/**
 * The CLI's certificate as this manager keeps it, renewed at start once past half its life (the CLI renews its
 * own copy as it talks to the managers); a revoked one is replaced by a certificate with a new operator ID.
 */
async function freshOperator(
  store: Store,
  ca: CertificateAuthority,
  dir: StateDir,
): Promise<ManagerIdentity['operator']> {
  const kept = { certPem: dir.read('operator.crt'), keyPem: dir.read('operator.key') };
  const cert = new X509Certificate(kept.certPem);
  if (!pastHalfLife(certificateLife(cert))) return kept;
  const operatorId = readIdentity(cert).nodeId;
  const revoked = await store.get('revocations', revocationKey(operatorId, 'operator'));
  return issueOperator(ca, dir, await currentCertExpiryMs(store), revoked ? undefined : operatorId);
}

/**
 * The CLI's certificate issued again by the CA that issues now (a CA rotation began or ended), with the same
 * operator ID, and kept in the state directory.
 */
export async function reissueOperator(identity: ManagerIdentity, stateDir: string, validityMs?: number): Promise<void> {
  const operatorId = readIdentity(new X509Certificate(identity.operator.certPem)).nodeId;
  identity.operator = await issueOperator(identity.ca, new StateDir(stateDir), validityMs, operatorId);
}

async function currentTokens(store: Store, caKeyPem: string): Promise<ManagerIdentity['tokens']> {
  const cluster = await store.get('clusters', CLUSTER_KEY);
  if (!cluster) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      'etcd holds no cluster for this state directory: is --etcd the right one?',
      { reason: 'invalid' },
    );
  }
  return openTokens(cluster.value, caKeyPem);
}

/** The CLI's certificate (role operator), made by each manager for its own host's CLI; its CN is its operator ID. */
async function issueOperator(
  ca: CertificateAuthority,
  dir: StateDir,
  validityMs?: number,
  operatorId = newId(),
): Promise<ManagerIdentity['operator']> {
  const keys = await createKeyAndCsr();
  const certPem = await ca.issue({
    csrPem: keys.csrPem,
    nodeId: operatorId,
    role: 'operator',
    ...(validityMs ? { validityMs } : {}),
  });
  dir.replace('operator.key', keys.keyPem, true);
  dir.replace('operator.crt', certPem);
  return { certPem, keyPem: keys.keyPem };
}
