import { ControlServiceService, DispatcherServiceService, NodeCaServiceService } from '@flotilla/api';
import { createLogger, type Logger, serveHttp } from '@flotilla/observability';
import { connectEtcd, type EtcdOptions, Store } from '@flotilla/store';
import { Server } from '@grpc/grpc-js';
import { cliConfigDir, writeCliConfig } from './cli-config.js';
import { bootstrapCluster, CLUSTER_KEY, type ManagerIdentity } from './cluster-bootstrap.js';
import { controlService } from './control-service.js';
import { Dispatcher } from './dispatcher-service.js';
import { joinService } from './join-service.js';
import { JoinTokens } from './join-tokens.js';
import { ManagerMetrics } from './metrics.js';
import { managerCredentials } from './server-credentials.js';

export interface ManagerOptions {
  etcd: EtcdOptions;
  /** HOST:PORT to serve agents and the CLI on. */
  listen: string;
  stateDir: string;
  /** Names and addresses agents may dial this manager by (they go into its certificate). */
  advertise?: { hosts: string[]; ips: string[] };
  /** Where to write the CLI's operator credentials and this manager's address (default: cliConfigDir()). */
  cliConfigDir?: string;
  /** HOST:PORT for /healthz and /metrics (default 127.0.0.1 on a free port). */
  httpListen?: string;
  logger?: Logger;
}

export interface RunningManager {
  identity: ManagerIdentity;
  address: string;
  /** Where /healthz and /metrics answer. */
  httpAddress: string;
  store: Store;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/** The composition root: store, cluster identity, gRPC server with the join and dispatcher services. */
export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.logger ?? createLogger('manager');
  const metrics = new ManagerMetrics();
  const client = connectEtcd(options.etcd);
  const store = new Store(client).observed((op, seconds) => metrics.storeCalls.observe({ op }, seconds));
  const [host] = splitHostPort(options.listen);
  const advertise = options.advertise ?? defaultAdvertise(host);
  const identity = await bootstrapCluster(store, options.stateDir, advertise);
  const cluster = await store.get('clusters', CLUSTER_KEY);
  const settings = cluster?.value.settings;
  let address = options.listen;
  const dispatcher = new Dispatcher(store, identity.ca, {
    heartbeatPeriodMs: Number(settings?.heartbeatPeriodMs ?? 1_000n),
    gracePeriods: settings?.heartbeatGracePeriods ?? 3,
    managers: () => [address],
    onHeartbeat: () => metrics.heartbeats.inc(),
    onSessionOpened: () => metrics.sessionsOpened.inc(),
  });
  // A single manager leads; elections among several managers come with the leader loop.
  metrics.watch(dispatcher, () => true);
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  server.addService(NodeCaServiceService, joinService(store, identity.ca));
  server.addService(DispatcherServiceService, dispatcher.service());
  server.addService(
    ControlServiceService,
    controlService(store, identity.ca, dispatcher, new JoinTokens(store, options.stateDir, identity.ca.fingerprint)),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, managerCredentials(identity), (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `${host}:${port}`;
  await dispatcher.start();
  writeCliConfig(options.cliConfigDir ?? cliConfigDir(), identity, address);
  const http = await serveHttp(options.httpListen ?? '127.0.0.1:0', metrics.registry, () => ({
    ok: true,
    sessions: dispatcher.connectedNodes().length,
  }));
  log.info({ address, http: http.address, cluster: identity.clusterId, node: identity.nodeId }, 'manager started');
  return {
    identity,
    address,
    httpAddress: http.address,
    store,
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await http.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      log.info('manager stopped');
      client.close();
    },
  };
}

function splitHostPort(listen: string): [string, number] {
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), Number(listen.slice(at + 1))];
}

function defaultAdvertise(host: string): { hosts: string[]; ips: string[] } {
  const isIp = /^[\d.]+$|:/.test(host);
  return isIp ? { hosts: ['localhost'], ips: [host] } : { hosts: [host], ips: ['127.0.0.1'] };
}
