import { ControlServiceService, DispatcherServiceService, NodeCaServiceService } from '@flotilla/api';
import { connectEtcd, type EtcdOptions, Store } from '@flotilla/store';
import { Server } from '@grpc/grpc-js';
import { cliConfigDir, writeCliConfig } from './cli-config.js';
import { bootstrapCluster, CLUSTER_KEY, type ManagerIdentity } from './cluster-bootstrap.js';
import { controlService } from './control-service.js';
import { Dispatcher } from './dispatcher-service.js';
import { joinService } from './join-service.js';
import { JoinTokens } from './join-tokens.js';
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
}

export interface RunningManager {
  identity: ManagerIdentity;
  address: string;
  store: Store;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/** The composition root: store, cluster identity, gRPC server with the join and dispatcher services. */
export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const client = connectEtcd(options.etcd);
  const store = new Store(client);
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
  });
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
  return {
    identity,
    address,
    store,
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
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
