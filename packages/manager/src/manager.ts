import { MAX_RECONNECT_BACKOFF_MS, redisUrl } from '@flotilla/agent';
import { ControlServiceService, DispatcherServiceService, NodeCaServiceService, parseHostPort } from '@flotilla/api';
import { connectRedis, LogReader } from '@flotilla/events';
import { AllocatorLoop } from '@flotilla/network';
import { createLogger, type Logger, serveHttp } from '@flotilla/observability';
import { Orchestrator } from '@flotilla/orchestrator';
import { cliConfigDir } from '@flotilla/pki';
import { SchedulerLoop } from '@flotilla/scheduler';
import { CLUSTER_KEY, connectEtcd, type EtcdOptions, Informer, Store } from '@flotilla/store';
import { credentials, Server } from '@grpc/grpc-js';
import { writeCliConfig, writeCliManagers } from './cluster/cli-config.js';
import { bootstrapCluster, type ManagerIdentity } from './cluster/cluster-bootstrap.js';
import { ControlPlane } from './cluster/control-plane.js';
import { joinService } from './cluster/join-service.js';
import { JoinTokens } from './cluster/join-tokens.js';
import { managerCredentials } from './cluster/server-credentials.js';
import { StoreProbe } from './cluster/store-probe.js';
import { controlService } from './control-api/control-service.js';
import { forwardWrites } from './control-api/forward-writes.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { sessionRouter } from './dispatcher/session-router.js';
import type { BatcherStats } from './dispatcher/status-batcher.js';
import { ManagerMetrics } from './metrics.js';

export interface ManagerOptions {
  etcd: EtcdOptions;
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
   * their sessions) and the control API reads from it. Without it, `service logs` says logs are off.
   */
  redis?: { address: string; password?: string };
  logger?: Logger;
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
  stop(): Promise<void>;
}

/**
 * The composition root: store, cluster identity, the gRPC server, and the election. Every manager answers joins
 * and the control API; the leader alone runs the dispatcher (sessions, liveness, status writes) with a fenced
 * store, and the others send agents to it.
 */
export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.logger ?? createLogger('manager');
  const metrics = new ManagerMetrics();
  const client = connectEtcd(options.etcd);
  const store = new Store(client).observed((op, seconds) => metrics.storeCalls.observe({ op }, seconds));
  const [host] = splitHostPort(options.listen);
  const advertise = options.advertise ?? defaultAdvertise(host);
  let identity: ManagerIdentity;
  try {
    identity = await bootstrapCluster(store, options.stateDir, {
      advertise,
      ...(options.join ? { join: options.join } : {}),
    });
  } catch (err) {
    client.close();
    throw err;
  }
  const cluster = await store.get('clusters', CLUSTER_KEY);
  const settings = cluster?.value.settings;
  const heartbeatPeriodMs = Number(settings?.heartbeatPeriodMs ?? 1_000n);
  const gracePeriods = settings?.heartbeatGracePeriods ?? 3;

  // Checked before anything starts: a mistyped address should fail the start, not every later read.
  const redisLocation = options.redis ? redisUrl(options.redis.address, options.redis.password) : undefined;
  const logs = redisLocation
    ? new LogReader(connectRedis({ url: redisLocation, name: 'flotilla-manager-logs', logger: log }), { logger: log })
    : undefined;

  const stopping = new AbortController();
  let dispatcher: Dispatcher | undefined;
  const stats: BatcherStats = { written: 0, refused: 0, stale: 0, batches: 0 };
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  server.addService(NodeCaServiceService, joinService(store, identity.ca, identity.caKeyPem));
  server.addService(
    DispatcherServiceService,
    sessionRouter(
      () => dispatcher,
      () => plane.leader()?.address,
    ),
  );
  // Any manager answers reads; writes reach the leader (a follower calls it with its own manager certificate).
  server.addService(
    ControlServiceService,
    forwardWrites(
      controlService(store, identity.ca, new JoinTokens(store, identity.caKeyPem, identity.ca.fingerprint), {
        ...(logs ? { reader: logs } : {}),
        stopping: stopping.signal,
        logger: log,
      }),
      {
        ca: identity.ca,
        credentials: credentials.createSsl(
          Buffer.from(identity.ca.certPem),
          Buffer.from(identity.keyPem),
          Buffer.from(identity.certPem),
        ),
        leading: () => plane.leading(),
        leader: () => plane.leader()?.address,
      },
    ),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, managerCredentials(identity), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${host}:${port}`;

  const plane: ControlPlane = new ControlPlane(client, store, {
    self: { id: identity.nodeId, address },
    ttlSeconds: options.electionTtlSeconds ?? 5,
    log,
    lead: async (fenced) => {
      // One watch of tasks and one of nodes for the dispatcher and both loops: each change decoded once.
      const informers = { tasks: new Informer(fenced, 'tasks'), nodes: new Informer(fenced, 'nodes') };
      const stopInformers = () => Promise.all([informers.tasks.stop(), informers.nodes.stop()]);
      const started = new Dispatcher(fenced, identity.ca, {
        heartbeatPeriodMs,
        gracePeriods,
        selfFenceTimeoutMs: Number(settings?.selfFenceTimeoutMs ?? 0n),
        takeoverGraceMs: heartbeatPeriodMs * gracePeriods + MAX_RECONNECT_BACKOFF_MS * 2,
        managers: () => plane.managers(),
        ...(options.redis
          ? { logs: { redisAddress: options.redis.address, redisPassword: options.redis.password ?? '' } }
          : {}),
        stats,
        informers,
        logger: log,
        onHeartbeat: () => metrics.heartbeats.inc(),
        onSessionOpened: () => metrics.sessionsOpened.inc(),
      });
      // The control loops: they meet only through the store, every write fenced by this leadership.
      const orchestrator = new Orchestrator(fenced, {
        historyLimit: settings?.taskHistoryLimit ?? 5,
        rebalanceOnJoin: !settings?.rebalanceDisabled,
        informers,
        onRound: (round) =>
          round.error ? log.warn(round, 'orchestrator round failed') : log.debug(round, 'orchestrated'),
      });
      const scheduler = new SchedulerLoop(fenced, {
        informers,
        onRound: (round) => (round.error ? log.warn(round, 'scheduler round failed') : log.debug(round, 'scheduled')),
      });
      const allocator = new AllocatorLoop(fenced, {
        informers,
        onPass: (pass) => (pass.error ? log.warn(pass, 'allocator pass failed') : log.debug(pass, 'allocated')),
      });
      try {
        await started.start();
        await Promise.all([orchestrator.start(), scheduler.start(), allocator.start()]);
      } catch (err) {
        await stopInformers();
        throw err;
      }
      dispatcher = started;
      return {
        stop: async () => {
          dispatcher = undefined;
          await Promise.all([orchestrator.stop(), scheduler.stop(), allocator.stop()]);
          await started.stop();
          await stopInformers();
        },
      };
    },
  });
  const cliDir = options.cliConfigDir ?? cliConfigDir();
  plane.onManagersChanged((managers) => {
    dispatcher?.announceManagers();
    try {
      writeCliManagers(cliDir, managers);
    } catch (err) {
      log.warn({ err: (err as Error).message, dir: cliDir }, 'could not write the list of managers for the CLI');
    }
  });
  // A read that needs etcd's quorum, as writes do: whether this manager can change anything now.
  // Through an uninstrumented store: the probe's reads would skew the etcd call latency metric.
  const probeStore = new Store(client);
  const storeProbe = new StoreProbe({ check: () => probeStore.get('clusters', CLUSTER_KEY), log });
  metrics.watch(
    () => dispatcher,
    stats,
    () => plane.leading(),
    () => storeProbe.up,
  );
  plane.start();
  storeProbe.start();

  // The list of managers follows when the election first reads the candidates (onManagersChanged).
  writeCliConfig(cliDir, identity, address);
  // Unhealthy (503) while etcd does not answer: the manager can change nothing then.
  const http = await serveHttp(options.httpListen ?? '127.0.0.1:0', metrics.registry, () => ({
    ok: storeProbe.up,
    store: storeProbe.up ? 'answering' : `not answering for ${Math.round(storeProbe.downForMs() / 1000)} s`,
    leader: plane.leading(),
    sessions: dispatcher?.connectedNodes().length ?? 0,
  }));
  log.info(
    {
      address,
      http: http.address,
      cluster: identity.clusterId,
      node: identity.nodeId,
      // Where logs go, never the password.
      redis: options.redis?.address ?? null,
    },
    'manager started',
  );
  return {
    identity,
    address,
    httpAddress: http.address,
    store,
    controlPlane: plane,
    dispatcher: () => dispatcher,
    async stop() {
      // Open `service logs -f` calls end first: the server waits for every call before it shuts down.
      stopping.abort();
      await storeProbe.stop();
      await plane.stop();
      await http.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await logs?.close();
      log.info('manager stopped');
      client.close();
    },
  };
}

function splitHostPort(listen: string): [string, number] {
  const { host, port } = parseHostPort(listen, 'address to listen on', { allowPortZero: true });
  return [host, port];
}

function defaultAdvertise(host: string): { hosts: string[]; ips: string[] } {
  const isIp = /^[\d.]+$|:/.test(host);
  return isIp ? { hosts: ['localhost'], ips: [host] } : { hosts: [host], ips: ['127.0.0.1'] };
}
