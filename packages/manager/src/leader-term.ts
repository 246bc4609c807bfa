import { MAX_RECONNECT_BACKOFF_MS } from '@flotilla/agent';
import type { ClusterSettings, LogsConfig } from '@flotilla/api';
import { type connectRedis, type EventLog, nodePassword, nodeUserName } from '@flotilla/events';
import { AllocatorLoop } from '@flotilla/network';
import type { Logger } from '@flotilla/observability';
import { Orchestrator } from '@flotilla/orchestrator';
import type { CertificateAuthority } from '@flotilla/pki';
import { SchedulerLoop } from '@flotilla/scheduler';
import { CLUSTER_KEY, Informer, type Store } from '@flotilla/store';
import { certExpiryMs } from './cluster/cert-expiry.js';
import { REDIS_SERVER_NAME } from './cluster/redis-certificates.js';
import { Dispatcher, type DispatcherOptions } from './dispatcher/dispatcher.js';
import type { BatcherStats } from './dispatcher/status-batcher.js';
import type { ManagerVoter } from './dispatcher/voters.js';
import { EventPublisher } from './events/event-publisher.js';
import { NodeRedisUsers } from './events/node-redis-users.js';
import type { ManagerMetrics } from './metrics.js';
import { FileObjectCollector } from './secrets/file-collector.js';

/** Every watch a leader's term keeps: one informer per kind, shared by the dispatcher and the control loops. */
export interface LeaderInformers {
  tasks: Informer<'tasks'>;
  nodes: Informer<'nodes'>;
  services: Informer<'services'>;
  networks: Informer<'networks'>;
  allocations: Informer<'allocations'>;
  clusters: Informer<'clusters'>;
}

export interface LeaderTermOptions {
  ca: CertificateAuthority;
  /** The cluster's settings as this manager found them at its start. */
  settings: ClusterSettings | undefined;
  /** Addresses of every manager, the leader first. */
  managers: () => string[];
  /** The live managers (IDs and addresses), voters of the quorum rule with the nodes. */
  managerVoters: () => ManagerVoter[];
  /** The Redis agents ship container logs to, told to them in their sessions. */
  redis?: { address: string; password?: string; tls?: boolean };
  /**
   * Redis over TLS with a user per node (--redis-tls): a connection as the managers' user to keep the nodes' users
   * with, made at the term's start and closed at its end.
   */
  redisUsers?: { connect: () => ReturnType<typeof connectRedis>; secret: string };
  /** The event log the leader writes the cluster's events to (managers started with Redis), and who led before. */
  events?: { log: EventLog; leaderId: string; previousLeaderId: string };
  /** Counters of status batches, kept across terms. */
  stats: BatcherStats;
  metrics: ManagerMetrics;
  log: Logger;
}

/** What runs while this manager leads. */
export interface LeaderTerm {
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/**
 * Starts a leader's term: one set of informers on the fenced store, the dispatcher (sessions, liveness, status
 * writes), the control loops (orchestrator, scheduler, allocator), which meet only through the store, and the
 * removal of unused versions of secrets and configs.
 */
export async function startLeaderTerm(fenced: Store, options: LeaderTermOptions): Promise<LeaderTerm> {
  const informers = leaderInformers(fenced);
  const stopInformers = () => Promise.all(Object.values(informers).map((i) => i.stop()));
  const dispatcher = new Dispatcher(fenced, options.ca, dispatcherOptions(options, informers));
  const loops = controlLoops(fenced, options, informers);
  try {
    await dispatcher.start();
    await Promise.all(loops.map((loop) => loop.start()));
    await informers.clusters.start();
  } catch (err) {
    await stopInformers();
    throw err;
  }
  // A new certificate life reaches every agent at once (a shorter one makes them renew within it).
  let expiry = certExpiryMs(informers.clusters.get(CLUSTER_KEY)?.value.settings ?? options.settings);
  informers.clusters.subscribe(() => {
    const now = certExpiryMs(informers.clusters.get(CLUSTER_KEY)?.value.settings ?? options.settings);
    if (now !== expiry) dispatcher.announceManagers();
    expiry = now;
  });
  const publisher = options.events && new EventPublisher(informers, { ...options.events, logger: options.log });
  publisher?.start();
  const redisUsers =
    options.redisUsers &&
    new NodeRedisUsers({
      redis: options.redisUsers.connect(),
      nodes: informers.nodes,
      secret: options.redisUsers.secret,
      logger: options.log,
    });
  redisUsers?.start();
  const files = new FileObjectCollector(fenced, {
    services: informers.services,
    tasks: informers.tasks,
    log: options.log,
  });
  files.start();
  return {
    dispatcher,
    stop: async () => {
      publisher?.stop();
      await redisUsers?.stop();
      await files.stop();
      await Promise.all(loops.map((loop) => loop.stop()));
      await dispatcher.stop();
      await stopInformers();
    },
  };
}

function leaderInformers(store: Store): LeaderInformers {
  return {
    tasks: new Informer(store, 'tasks'),
    nodes: new Informer(store, 'nodes'),
    services: new Informer(store, 'services'),
    networks: new Informer(store, 'networks'),
    allocations: new Informer(store, 'allocations'),
    clusters: new Informer(store, 'clusters'),
  };
}

function dispatcherOptions(options: LeaderTermOptions, informers: LeaderInformers): DispatcherOptions {
  const { settings, redis, metrics } = options;
  const heartbeatPeriodMs = Number(settings?.heartbeatPeriodMs ?? 1_000n);
  const gracePeriods = settings?.heartbeatGracePeriods ?? 3;
  return {
    heartbeatPeriodMs,
    gracePeriods,
    selfFenceTimeoutMs: Number(settings?.selfFenceTimeoutMs ?? 0n),
    takeoverGraceMs: heartbeatPeriodMs * gracePeriods + MAX_RECONNECT_BACKOFF_MS * 2,
    managers: options.managers,
    managerVoters: options.managerVoters,
    ...(redis ? { logs: managersLogsConfig(redis) } : {}),
    ...(redis && options.redisUsers ? { nodeLogs: nodeLogsConfig(redis.address, options.redisUsers.secret) } : {}),
    stats: options.stats,
    informers,
    logger: options.log,
    certExpiryMs: () => certExpiryMs(informers.clusters.get(CLUSTER_KEY)?.value.settings ?? settings),
    onHeartbeat: () => metrics.heartbeats.inc(),
    onSessionOpened: () => metrics.sessionsOpened.inc(),
    onCutOff: (why) => metrics.sessionsCutOff.inc({ why }),
  };
}

/** The control loops, every write fenced by this leadership. */
function controlLoops(fenced: Store, options: LeaderTermOptions, informers: LeaderInformers) {
  const { settings, log } = options;
  return [
    new Orchestrator(fenced, {
      historyLimit: settings?.taskHistoryLimit ?? 5,
      rebalanceOnJoin: () => !(informers.clusters.get(CLUSTER_KEY)?.value.settings ?? settings)?.rebalanceDisabled,
      informers,
      onRound: (round) =>
        round.error ? log.warn(round, 'orchestrator round failed') : log.debug(round, 'orchestrated'),
    }),
    new SchedulerLoop(fenced, {
      informers,
      onRound: (round) => (round.error ? log.warn(round, 'scheduler round failed') : log.debug(round, 'scheduled')),
    }),
    new AllocatorLoop(fenced, {
      informers,
      onPass: (pass) => (pass.error ? log.warn(pass, 'allocator pass failed') : log.debug(pass, 'allocated')),
    }),
  ];
}

/** What the managers reach Redis with: told to a node promoted to manager, and to every node without TLS. */
function managersLogsConfig(redis: NonNullable<LeaderTermOptions['redis']>): LogsConfig {
  return {
    redisAddress: redis.address,
    redisPassword: redis.password ?? '',
    redisTls: redis.tls ?? false,
    redisUser: '',
    redisServerName: redis.tls ? REDIS_SERVER_NAME : '',
  };
}

/** With a user per node: each node's own user and password, over TLS. */
function nodeLogsConfig(address: string, secret: string): (nodeId: string) => LogsConfig {
  return (nodeId) => ({
    redisAddress: address,
    redisPassword: nodePassword(secret, nodeId),
    redisTls: true,
    redisUser: nodeUserName(nodeId),
    redisServerName: REDIS_SERVER_NAME,
  });
}
