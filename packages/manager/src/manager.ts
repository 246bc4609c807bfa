import { hostname } from 'node:os';
import type { CertificateRenewer, NodeCertificates } from '@flotilla/agent';
import {
  type ClusterSettings,
  Code,
  ControlServiceService,
  DispatcherServiceService,
  FlotillaError,
  formatHostPort,
  NodeCaServiceService,
  PeerServiceService,
  parseHostPort,
} from '@flotilla/api';
import { connectRedis, EventLog, EventReader, LogReader, type TlsIdentity } from '@flotilla/events';
import { createLogger, type Logger, serveHttp } from '@flotilla/observability';
import { cliConfigDir } from '@flotilla/pki';
import { CLUSTER_KEY, connectEtcd, type EtcdOptions, Store } from '@flotilla/store';
import { Server } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CaRotationFollower } from './cluster/ca-rotation-follower.js';
import { currentCertExpiryMs } from './cluster/cert-expiry.js';
import { type CertificateEvents, certificateEvents } from './cluster/certificate-events.js';
import { type CertificateUpkeep, certificateUpkeep } from './cluster/certificate-upkeep.js';
import { cliManagersWriter, writeCliConfig } from './cluster/cli-config.js';
import { bootstrapCluster, type ManagerIdentity, reissueOperator } from './cluster/cluster-bootstrap.js';
import { ControlPlane } from './cluster/control-plane.js';
import { EmbeddedEtcd, type MemberIdentity } from './cluster/embedded-etcd.js';
import { memberClientUrls } from './cluster/etcd-membership.js';
import { EtcdRotation, silentEtcdMembers } from './cluster/etcd-rotation.js';
import { etcdWarnings } from './cluster/etcd-warnings.js';
import { joinService } from './cluster/join-service.js';
import { recordManager } from './cluster/manager-records.js';
import { peerService } from './cluster/peer-service.js';
import type { RevocationWatch } from './cluster/revocations.js';
import { managerCredentials } from './cluster/server-credentials.js';
import { StoreProbe } from './cluster/store-probe.js';
import { type ControlOptions, managerControlService } from './control-api/control-service.js';
import type { NodePromotions } from './control-api/nodes.js';
import { OpenStreams } from './control-api/stream-call.js';
import type { Dispatcher } from './dispatcher/dispatcher.js';
import { sessionRouter } from './dispatcher/session-router.js';
import type { BatcherStats } from './dispatcher/status-batcher.js';
import { type ManagerRedis, managerRedisConnection } from './events/redis-client.js';
import { redisWarnings } from './events/redis-warnings.js';
import { type LeaderTerm, type LeaderTermOptions, startLeaderTerm } from './leader-term.js';
import { ManagerMetrics } from './metrics.js';

export interface ManagerOptions {
  /** An external etcd. Without it, the manager runs its own etcd member (embedded, with `embeddedEtcd`). */
  etcd?: EtcdOptions;
  /**
   * The manager's own etcd member, when `etcd` is not given: HOST:PORT it serves clients and peers on (default
   * ports 2379 and 2380 on the host of `listen`), and its binary (default $FLOTILLA_ETCD_BIN or /usr/bin/etcd).
   */
  embeddedEtcd?: { listenClient?: string; listenPeer?: string; binary?: string };
  /** HOST:PORT to serve agents and the CLI on. */
  listen: string;
  stateDir: string;
  /** Join an existing cluster through one of its managers (first start of a further manager). */
  join?: { manager: string; token: string };
  /** Names and addresses agents may dial this manager by (they go into its certificate). */
  advertise?: { hosts: string[]; ips: string[] };
  /** Where to write the CLI's operator credentials and this manager's address (default: cliConfigDir()). */
  cliConfigDir?: string;
  /** HOST:PORT for /healthz and /metrics (default 127.0.0.1 on a free port). */
  httpListen?: string;
  /** How long a crashed leader holds leadership before another manager takes over (default 5 s). */
  electionTtlSeconds?: number;
  /**
   * The Redis that holds container logs: agents ship to it (the leader tells them where, password included, in
   * their sessions) and the control API reads from it. Without it, `service logs` says logs are off. With `tls`,
   * Redis is reached over TLS with this manager's certificate and each node gets a Redis user of its own.
   */
  redis?: ManagerRedis;
  logger?: Logger;
  /** Changes queued per control-API `Watch` call before it is ended (default WATCH_LIMITS.queued; tests lower it). */
  watchQueueLimit?: number;
}

/** The Redis parts a manager started with --redis holds: container logs and the event log, read and written. */
interface RedisParts {
  /** Another connection as the managers' user (the leader keeps the nodes' Redis users with one). */
  connect: (name: string) => ReturnType<typeof connectRedis>;
  logs: LogReader;
  events: EventReader;
  eventLog: EventLog;
}

export interface RunningManager {
  identity: ManagerIdentity;
  address: string;
  /** Where /healthz and /metrics answer. */
  httpAddress: string;
  store: Store;
  /** Election among the managers: who leads, the live managers. */
  controlPlane: ControlPlane;
  /** The dispatcher while this manager leads. */
  dispatcher(): Dispatcher | undefined;
  /** Resolves when this manager is demoted (`node demote`) and its etcd member left: whoever runs it stops it. */
  demoted: Promise<void>;
  /** Renews this manager's certificate (at 50-80 % of its life); new connections get the new one. */
  renewer: CertificateRenewer;
  /** The revocations this manager refuses certificates by (watched in etcd). */
  revocations: RevocationWatch;
  /** This manager's own etcd member (started without an external etcd). */
  embeddedEtcd: EmbeddedEtcd | undefined;
  stop(): Promise<void>;
}

/**
 * The composition root: store, cluster identity, the gRPC server, and the election. Every manager answers joins
 * and the control API; the leader alone runs the dispatcher (sessions, liveness, status writes) and the control
 * loops with a fenced store, and the others send agents to it.
 */
export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.logger ?? createLogger('manager');
  const metrics = new ManagerMetrics();
  const [host] = splitHostPort(options.listen);
  const embedded = options.etcd ? undefined : embeddedEtcd(options, host, log);
  const { identity, client, store } = await identify(options, host, embedded, metrics);
  const settings = (await store.get('clusters', CLUSTER_KEY))?.value.settings;
  // Checked before anything starts: a mistyped address should fail the start, not every later read.
  // Redis is reached with this manager's certificate: the one it started with, then the renewed ones.
  const redisTls = {
    identity: (): TlsIdentity => tlsIdentity(identity.certPem, identity.keyPem, identity.ca.trustPem),
  };
  const redisParts = options.redis ? openRedisParts(options.redis, () => redisTls.identity(), log) : undefined;
  // An embedded member is reached over mutual TLS with a certificate of the cluster CA: nothing to warn of.
  const warnings = [...(options.etcd ? etcdWarnings(options.etcd) : []), ...redisWarnings(options.redis)];
  for (const warning of warnings) log.warn(warning);
  const stopping = new AbortController();
  const election: ElectionState = { stats: { written: 0, refused: 0, stale: 0, batches: 0 } };
  const events = certificateEvents(redisParts?.eventLog, () => election.plane?.leading() ?? false);
  // Long control calls (logs -f, events -f) end when their caller's certificate is revoked.
  const streams = new OpenStreams(identity.ca);
  // Before the port opens: no call is answered with a certificate that etcd says is revoked.
  const upkeep = await certificateUpkeep({
    identity,
    store,
    stateDir: options.stateDir,
    log,
    disconnect: (nodeId) => election.term?.dispatcher.disconnect(nodeId),
    onRevoked: (r) => events.revoked(r),
    onRevocationsChanged: () => streams.recheck(),
    onRenewed: (certPem) => events.renewed(certPem),
  });
  const { certificates, renewer, revocations } = upkeep;
  redisTls.identity = () => {
    const now = certificates.current();
    return tlsIdentity(now.certPem, now.keyPem, now.caCertPem);
  };
  const etcdUrls = async () => (embedded ? memberClientUrls(client) : []);
  const server = grpcServer(
    store,
    identity,
    election,
    { certificates, events, etcdUrls },
    {
      ...(redisParts ? { reader: redisParts.logs, events: redisParts.events } : {}),
      warnings,
      ...(embedded ? { silentEtcdMembers: () => silentEtcdMembers(client, embedded.tls) } : {}),
      stopping: stopping.signal,
      streams,
      logger: log,
      ...(options.watchQueueLimit === undefined ? {} : { watchQueueLimit: options.watchQueueLimit }),
      managers: () => ({
        leaderId: election.plane?.leader()?.id,
        candidateIds: new Set(election.plane?.members().map((m) => m.id)),
      }),
      promotions: nodePromotions(election, identity),
    },
  );
  const address = `${host}:${await bind(server, options.listen, identity, certificates)}`;
  await recordManager(store, {
    id: identity.nodeId,
    hostname: hostname(),
    address,
    etcdMember: embedded !== undefined,
  }).catch(async (err: unknown) => {
    server.forceShutdown();
    await upkeep.stop();
    client.close();
    await embedded?.stop();
    throw err;
  });
  // Demoted, its etcd member leaves first, while it still runs (with two members, the other could not make the
  // change alone); whoever runs the manager stops it then.
  const demotion = watchDemotion(store, identity.nodeId, stopping.signal).then(async () => {
    log.warn('this manager was demoted: it leaves the control plane');
    await embedded
      ?.leave()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'etcd member not removed'));
  });
  upkeep.startRenewing();
  const cliDir = options.cliConfigDir ?? cliConfigDir();
  const eventLog = redisParts?.eventLog;
  const plane = elect({
    client,
    store,
    identity,
    settings,
    address,
    cliDir,
    election,
    options,
    eventLog,
    ...(redisParts && options.redis?.tls && options.redis.password
      ? {
          redisUsers: {
            connect: () => redisParts.connect('flotilla-manager-redis-users'),
            secret: options.redis.password,
          },
        }
      : {}),
    metrics,
    log,
  });
  const probe = storeProbe(client, log);
  const rotation = caRotationFollower({
    store,
    identity,
    options,
    upkeep,
    plane,
    election,
    cliDir,
    address,
    log,
    events,
    ...(embedded ? { etcd: new EtcdRotation({ etcd: embedded, client, nodeId: identity.nodeId, log }) } : {}),
  });
  plane.start();
  probe.start();
  rotation.start();
  // The list of managers follows when the election first reads the candidates (onManagersChanged).
  writeCliConfig(cliDir, identity, address);
  const http = await serveHealth(options.httpListen, { metrics, probe, plane, election });
  // Where logs go, never the password.
  const redis = options.redis?.address ?? null;
  log.info(
    { address, http: http.address, cluster: identity.clusterId, node: identity.nodeId, redis },
    'manager started',
  );
  const stop = async () => {
    // Open `service logs -f` calls end first: the server waits for every call before it shuts down.
    stopping.abort();
    await rotation.stop();
    await upkeep.stop();
    await probe.stop();
    await plane.stop();
    await http.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await closeRedisParts(redisParts);
    client.close();
    await embedded?.stop();
    log.info('manager stopped');
  };
  const dispatcher = () => election.term?.dispatcher;
  return {
    identity,
    address,
    httpAddress: http.address,
    store,
    controlPlane: plane,
    dispatcher,
    demoted: demotion,
    embeddedEtcd: embedded,
    renewer,
    revocations,
    stop,
  };
}

/** `node promote` as the leader serves it: through its dispatcher's sessions, joined through its own address. */
function nodePromotions(election: ElectionState, identity: ManagerIdentity): NodePromotions {
  return {
    managerAddress: (nodeId) => election.term?.dispatcher.managerAddress(nodeId),
    send: (nodeId, promotion) => election.term?.dispatcher.promote(nodeId, promotion) ?? false,
    joinAddress: () => (election.plane?.leading() ? election.plane.leader()?.address : undefined),
    caFingerprint: () => identity.ca.fingerprint,
  };
}

/**
 * This manager's part in CA rotations; when its CA changes, the agents' sessions are told (the leader's), and the
 * CLI's certificate is issued again by the CA that issues now, with the CLI's configuration rewritten.
 */
function caRotationFollower(parts: {
  store: Store;
  identity: ManagerIdentity;
  options: ManagerOptions;
  upkeep: CertificateUpkeep;
  plane: ControlPlane;
  election: ElectionState;
  cliDir: string;
  address: string;
  log: Logger;
  events: CertificateEvents;
  /** This manager's own etcd member, when it runs one. */
  etcd?: EtcdRotation;
}): CaRotationFollower {
  const { store, identity, options, upkeep, plane, election, cliDir, address, log, events } = parts;
  return new CaRotationFollower({
    store,
    identity,
    stateDir: options.stateDir,
    certificates: upkeep.certificates,
    renewer: upkeep.renewer,
    ...(parts.etcd ? { etcd: parts.etcd } : {}),
    leading: () => plane.leading(),
    liveManagerIds: () => plane.members().map((m) => m.id),
    log,
    onPhase: (phase, fingerprint) => {
      events.caRotation(phase, fingerprint);
      election.term?.dispatcher.announceManagers();
      void currentCertExpiryMs(store)
        .then((ms) => reissueOperator(identity, options.stateDir, ms))
        .then(() => writeCliConfig(cliDir, identity, address))
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'CLI certificate not issued again'));
    },
  });
}

/**
 * Resolves once this manager's record says it was demoted (read every second; a read that fails, etcd away, is
 * tried again), never after the manager stops.
 */
function watchDemotion(store: Store, id: string, stopping: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      void store.get('managers', id).then(
        (record) => {
          if (!record?.value.demoted || stopping.aborted) return;
          clearInterval(timer);
          resolve();
        },
        () => undefined,
      );
    }, 1_000);
    stopping.addEventListener('abort', () => clearInterval(timer), { once: true });
  });
}

/**
 * The Redis parts, each on a connection of its own, made at the manager's start: a mistyped address fails the
 * start, not every later read. The event log (every manager may come to lead) connects in the background and,
 * while Redis is away, holds events in its bounded buffer.
 */
function openRedisParts(redis: ManagerRedis, identity: () => TlsIdentity, logger: Logger): RedisParts {
  const connection = managerRedisConnection(redis, identity);
  const connect = (name: string) => connectRedis({ ...connection, name, logger });
  return {
    connect,
    logs: new LogReader(connect('flotilla-manager-logs'), { logger }),
    events: new EventReader(connect('flotilla-manager-events'), { logger }),
    eventLog: new EventLog(connect('flotilla-manager-event-log'), { logger }),
  };
}

async function closeRedisParts(parts: RedisParts | undefined): Promise<void> {
  if (!parts) return;
  await Promise.all([parts.logs.close(), parts.events.close(), parts.eventLog.close({ timeoutMs: 1_000 })]);
}

/** The election as the gRPC services see it: made once the server has its address, and the leader's term. */
interface ElectionState {
  plane?: ControlPlane;
  term?: LeaderTerm;
  /** Counters of status batches, kept across terms. */
  stats: BatcherStats;
}

/**
 * This manager's identity in the cluster (loaded, joined, or a new cluster's) and its store: the external etcd,
 * or its own member, started once the identity has a CA to issue the member's certificate.
 */
async function identify(
  options: ManagerOptions,
  host: string,
  embedded: EmbeddedEtcd | undefined,
  metrics: ManagerMetrics,
) {
  let client: Etcd3 | undefined;
  let store: Store | undefined;
  const connect = async (member: MemberIdentity) => {
    const etcd = embedded ? await embedded.start(member) : (options.etcd as EtcdOptions);
    client = connectEtcd(etcd);
    store = new Store(client).observed((op, seconds) => metrics.storeCalls.observe({ op }, seconds));
    return store;
  };
  try {
    const identity = await bootstrapCluster(connect, options.stateDir, {
      advertise: options.advertise ?? defaultAdvertise(host),
      ...(options.join ? { join: options.join } : {}),
    });
    return { identity, client: client as Etcd3, store: store as Store };
  } catch (err) {
    client?.close();
    // A first start that failed leaves no etcd data behind: the next start makes (or joins) the cluster afresh.
    await embedded?.stop({ discard: true });
    throw err;
  }
}

/**
 * The manager's own etcd member, on the ports asked for or 2379 and 2380 on the manager's host (`cluster restore`
 * makes one too, on the addresses the manager will give it).
 */
export function embeddedEtcd(
  options: Pick<ManagerOptions, 'stateDir' | 'embeddedEtcd'>,
  host: string,
  log: Logger = createLogger('manager'),
): EmbeddedEtcd {
  const asked = options.embeddedEtcd ?? {};
  const address = (flag: string, value: string | undefined, port: number) => {
    if (value === undefined && (host === '0.0.0.0' || host === '::')) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `the manager listens on every address (${host}): give its etcd member an address other managers reach with ${flag} HOST:PORT`,
      );
    }
    try {
      return parseHostPort(value ?? formatHostPort({ host, port }), `${flag} address`, { example: `${host}:${port}` });
    } catch (err) {
      throw new FlotillaError(Code.InvalidArgument, `${flag}: ${(err as Error).message}`);
    }
  };
  return new EmbeddedEtcd({
    stateDir: options.stateDir,
    client: address('--etcd-listen-client', asked.listenClient, 2379),
    peer: address('--etcd-listen-peer', asked.listenPeer, 2380),
    binary: asked.binary ?? process.env.FLOTILLA_ETCD_BIN ?? '/usr/bin/etcd',
    log: log.child({ component: 'etcd' }),
  });
}

/** The manager's gRPC services: joins, agents' sessions (the leader's), the quorum rule's probes, the control API. */
function grpcServer(
  store: Store,
  identity: ManagerIdentity,
  election: ElectionState,
  {
    certificates,
    events,
    etcdUrls,
  }: {
    certificates: NodeCertificates;
    events: CertificateEvents;
    /** The etcd client URLs a joining manager adds its member through (none: an external etcd). */
    etcdUrls: () => Promise<string[]>;
  },
  logs: ControlOptions,
): Server {
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  server.addService(
    NodeCaServiceService,
    joinService(
      store,
      identity.ca,
      () => identity.caKeyPem,
      (renewed) => events.renewed(renewed.certPem),
      etcdUrls,
    ),
  );
  const leader = () => election.plane?.leader()?.address;
  server.addService(
    DispatcherServiceService,
    sessionRouter(() => election.term?.dispatcher, leader),
  );
  server.addService(
    PeerServiceService,
    peerService(identity.ca, () => ({
      hearsLeader: election.plane?.hearsLeader() ?? false,
      forMs: election.plane?.leaderHeardForMs() ?? 0,
    })),
  );
  const leadership = { leading: () => election.plane?.leading() ?? false, leader };
  server.addService(ControlServiceService, managerControlService(store, identity, logs, leadership, certificates));
  return server;
}

function bind(
  server: Server,
  listen: string,
  identity: ManagerIdentity,
  certificates: NodeCertificates,
): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, managerCredentials(identity, certificates), (err, p) => (err ? reject(err) : resolve(p))),
  );
}

interface ElectionInput {
  client: Etcd3;
  store: Store;
  identity: ManagerIdentity;
  settings: ClusterSettings | undefined;
  address: string;
  /** Where the CLI's configuration is written. */
  cliDir: string;
  election: ElectionState;
  options: ManagerOptions;
  /** Where the leader writes the cluster's events (managers started with Redis). */
  eventLog: EventLog | undefined;
  /** With --redis-tls: how the leader keeps one Redis user per node. */
  redisUsers?: LeaderTermOptions['redisUsers'];
  metrics: ManagerMetrics;
  log: Logger;
}

/** This manager's candidacy: while it leads, a term runs; the CLI's list of managers follows the candidates. */
function elect(input: ElectionInput): ControlPlane {
  const { client, store, identity, settings, address, election, options, eventLog, metrics, log } = input;
  const plane: ControlPlane = new ControlPlane(client, store, {
    self: { id: identity.nodeId, address },
    ttlSeconds: options.electionTtlSeconds ?? 5,
    log,
    lead: async (fenced) => {
      const term = await startLeaderTerm(fenced, {
        ca: identity.ca,
        dataKey: identity.dataKey,
        settings,
        managers: () => plane.managers(),
        managerVoters: () => plane.members(),
        ...(options.redis ? { redis: options.redis } : {}),
        ...(input.redisUsers ? { redisUsers: input.redisUsers } : {}),
        ...(eventLog ? { events: leaderEvents(eventLog, identity, plane) } : {}),
        stats: election.stats,
        metrics,
        log,
      });
      election.term = term;
      return {
        stop: async () => {
          election.term = undefined;
          await term.stop();
        },
      };
    },
  });
  election.plane = plane;
  const writeManagers = cliManagersWriter(input.cliDir, log);
  plane.onManagersChanged((managers) => {
    election.term?.dispatcher.announceManagers();
    writeManagers(managers);
  });
  return plane;
}

/** The event log as a new term writes to it: this manager leads now, after the leader it last read. */
function leaderEvents(log: EventLog, identity: ManagerIdentity, plane: ControlPlane) {
  const previous = plane.lastReadLeader()?.id;
  return { log, leaderId: identity.nodeId, previousLeaderId: previous && previous !== identity.nodeId ? previous : '' };
}

/**
 * A read that needs etcd's quorum, as writes do: whether this manager can change anything now. Through an
 * uninstrumented store: the probe's reads would skew the etcd call latency metric.
 */
function storeProbe(client: Etcd3, log: Logger): StoreProbe {
  const probeStore = new Store(client);
  return new StoreProbe({ check: () => probeStore.get('clusters', CLUSTER_KEY), log });
}

/** /healthz and /metrics. Unhealthy (503) while etcd does not answer: the manager can change nothing then. */
function serveHealth(
  listen: string | undefined,
  parts: { metrics: ManagerMetrics; probe: StoreProbe; plane: ControlPlane; election: ElectionState },
) {
  const { metrics, probe, plane, election } = parts;
  const dispatcher = () => election.term?.dispatcher;
  metrics.watch(
    dispatcher,
    election.stats,
    () => plane.leading(),
    () => probe.up,
  );
  return serveHttp(listen ?? '127.0.0.1:0', metrics.registry, () => ({
    ok: probe.up,
    store: probe.up ? 'answering' : `not answering for ${Math.round(probe.downForMs() / 1000)} s`,
    leader: plane.leading(),
    sessions: dispatcher()?.connectedNodes().length ?? 0,
  }));
}

function splitHostPort(listen: string): [string, number] {
  const { host, port } = parseHostPort(listen, 'address to listen on', { allowPortZero: true });
  return [host, port];
}

function defaultAdvertise(host: string): { hosts: string[]; ips: string[] } {
  const isIp = /^[\d.]+$|:/.test(host);
  return isIp ? { hosts: ['localhost'], ips: [host] } : { hosts: [host], ips: ['127.0.0.1'] };
}

function tlsIdentity(certPem: string, keyPem: string, caPem: string): TlsIdentity {
  return { certPem, keyPem, caPem };
}
