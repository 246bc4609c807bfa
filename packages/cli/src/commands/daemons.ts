import { Command, Option } from '@commander-js/extra-typings';
import { startAgent } from '@flotilla/agent';
import { type ControlServiceClient, NodeSpec_Role } from '@flotilla/api';
import { startManager } from '@flotilla/manager';
import { call, controlClient } from '../control-client.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`expected a whole number of seconds, got "${value}"`, EXIT.usage);
  return n;
}

/**
 * Runs until SIGINT or SIGTERM, then stops cleanly, within a bound: a stop that hangs (etcd gone, say) is given
 * up after 10 s, and a second signal ends the process at once.
 */
function untilSignal(stop: () => Promise<void> | void, io: Io): Promise<void> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      process.once(signal, () => process.exit(1));
      const timer = setTimeout(() => {
        io.err('stopping took longer than 10 s: giving up on a clean stop\n');
        resolve();
      }, 10_000);
      void Promise.resolve(stop())
        .catch((err: unknown) => io.err(`stop failed: ${(err as Error).message}\n`))
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

export function managerCommand(io: Io): Command {
  const manager = new Command('manager').description('run a manager: the control plane');
  manager
    .command('start')
    .description(
      'start a manager; the first one creates the cluster, further ones join it with --join and the manager token',
    )
    .addOption(
      new Option('--etcd <URL>', 'etcd client URL; repeat for several').argParser(collect).default([] as string[]),
    )
    .requiredOption('--listen <HOST:PORT>', 'address to serve agents on')
    .requiredOption(
      '--state-dir <DIR>',
      "where the CA key, this manager's certificate and the join tokens are kept (mode 0700)",
    )
    .option('--join <HOST:PORT>', 'a manager of the cluster to join (first start of a further manager)')
    .option('--token <TOKEN>', 'the manager join token (flotilla join-token manager), with --join')
    .option('--http-listen <HOST:PORT>', 'where /healthz and /metrics answer', '127.0.0.1:0')
    .addOption(
      new Option('--election-ttl <SECONDS>', 'how long a crashed leader holds leadership before another takes over')
        .argParser(positiveInt)
        .default(5),
    )
    .option('--etcd-ca <FILE>', 'CA certificate to verify etcd with (TLS)')
    .option('--etcd-cert <FILE>', 'client certificate for etcd')
    .option('--etcd-key <FILE>', 'client key for etcd')
    .action(async (opts) => {
      if (opts.etcd.length === 0) throw new CliError('pass at least one --etcd URL', EXIT.usage);
      if ((opts.join === undefined) !== (opts.token === undefined)) {
        throw new CliError('--join and --token go together', EXIT.usage);
      }
      const tls = opts.etcdCa ? { caFile: opts.etcdCa, certFile: opts.etcdCert, keyFile: opts.etcdKey } : undefined;
      const running = await startManager({
        etcd: { endpoints: opts.etcd, ...(tls ? { tls } : {}) },
        listen: opts.listen,
        stateDir: opts.stateDir,
        httpListen: opts.httpListen,
        electionTtlSeconds: opts.electionTtl,
        ...(opts.join && opts.token ? { join: { manager: opts.join, token: opts.token } } : {}),
      });
      io.err(
        `manager ${running.identity.nodeId} of cluster ${running.identity.clusterId} listening on ${running.address}\n` +
          `health and metrics on http://${running.httpAddress}/healthz and /metrics\n` +
          'join tokens: flotilla join-token worker|manager\n',
      );
      await untilSignal(() => running.stop(), io);
    });
  return manager;
}

export function agentCommand(io: Io): Command {
  const agent = new Command('agent').description('run the node agent');
  agent
    .command('start')
    .description('join the cluster (first start) and hold a session with the managers')
    .requiredOption('--state-dir <DIR>', 'where this node keeps its key and certificate (mode 0700)')
    .option('--join <HOST:PORT>', 'a manager to join through (first start only)')
    .option('--token <TOKEN>', 'the join token (first start only)')
    .option('--hostname <NAME>', "the node's name in the cluster (first start only; default: this host's name)")
    .option('--http-listen <HOST:PORT>', 'where /healthz and /metrics answer', '127.0.0.1:0')
    .action(async (opts) => {
      if ((opts.join === undefined) !== (opts.token === undefined)) {
        throw new CliError('--join and --token go together', EXIT.usage);
      }
      const running = await startAgent({
        stateDir: opts.stateDir,
        httpListen: opts.httpListen,
        ...(opts.join && opts.token ? { join: { manager: opts.join, token: opts.token } } : {}),
        ...(opts.hostname ? { hostname: opts.hostname } : {}),
      });
      io.err(
        `node ${running.credentials.nodeId} (${running.credentials.role}) started; ` +
          `health and metrics on http://${running.httpAddress}/healthz and /metrics\n`,
      );
      await untilSignal(() => running.stop(), io);
    });
  return agent;
}

export function joinTokenCommand(io: Io, client: () => ControlServiceClient = () => controlClient()) {
  return new Command('join-token')
    .description('print the join token for workers or managers (through the control API)')
    .argument('<ROLE>', 'worker or manager')
    .option('--rotate', 'replace the token: the old one stops working, joined nodes are not affected')
    .option('-q, --quiet', 'print the token only')
    .action(async (role, opts) => {
      if (role !== 'worker' && role !== 'manager') throw new CliError('ROLE is worker or manager', EXIT.usage);
      const c = client();
      const { token } = await call(c, c.getJoinToken, {
        role: role === 'manager' ? NodeSpec_Role.ROLE_MANAGER : NodeSpec_Role.ROLE_WORKER,
        rotate: opts.rotate ?? false,
      }).finally(() => c.close());
      io.out(
        opts.quiet ? `${token}\n` : `flotilla agent start --join <MANAGER:PORT> --token ${token} --state-dir <DIR>\n`,
      );
    });
}
