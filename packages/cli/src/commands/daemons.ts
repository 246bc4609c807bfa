import { readFileSync } from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import { type ControlServiceClient, formatHostPort, NodeSpec_Role, parseHostPort } from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { readSecretFile } from '../secret-file.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usageError(`expected a whole number of seconds, got "${value}"`);
  return n;
}

/** A commander parser for HOST:PORT that names the option in its error. */
export function hostPort(option: string, example: string) {
  return (value: string): string => {
    try {
      return formatHostPort(parseHostPort(value, `${option} address`, { example }));
    } catch (err) {
      throw usageError(`${option}: ${(err as Error).message}`);
    }
  };
}

function redisAddress(value: string): string {
  try {
    return formatHostPort(parseHostPort(value, 'Redis address', { example: '127.0.0.1:6379' }));
  } catch (err) {
    throw usageError(`--redis: ${(err as Error).message}`);
  }
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
      new Option(
        '--etcd <URL>',
        'an external etcd: a client URL (repeat for several); without it the manager runs its own etcd member',
      )
        .argParser(collect)
        .default([] as string[]),
    )
    .addOption(
      new Option(
        '--etcd-listen-client <HOST:PORT>',
        "where this manager's own etcd member serves clients (default: port 2379 on the --listen host)",
      ).argParser(hostPort('--etcd-listen-client', '10.0.0.1:2379')),
    )
    .addOption(
      new Option(
        '--etcd-listen-peer <HOST:PORT>',
        "where this manager's own etcd member talks to the others (default: port 2380 on the --listen host)",
      ).argParser(hostPort('--etcd-listen-peer', '10.0.0.1:2380')),
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
    .option('--etcd-cacert <FILE>', 'CA certificate to verify the external etcd with (TLS)')
    .addOption(new Option('--etcd-ca <FILE>', 'the same as --etcd-cacert').hideHelp())
    .option('--etcd-cert <FILE>', 'client certificate for etcd')
    .option('--etcd-key <FILE>', 'client key for etcd')
    .addOption(
      new Option(
        '--redis <HOST:PORT>',
        'Redis for container logs: agents ship there, `service logs` reads there (give every manager the same)',
      ).argParser(redisAddress),
    )
    .option(
      '--redis-password-file <FILE>',
      "file whose first line is Redis's password; it is handed to agents in their (mutual TLS) sessions",
    )
    .option(
      '--redis-tls',
      'reach Redis over TLS with certificates of the cluster CA (see manager redis-tls), and give each node a Redis ' +
        'user of its own that may only append to its own logs (needs --redis-password-file: the managers alone know it)',
    )
    .action(async (opts) => {
      const caFile = opts.etcdCacert ?? opts.etcdCa;
      const external = opts.etcd.length > 0;
      if (!external && (caFile || opts.etcdCert || opts.etcdKey)) {
        throw usageError('--etcd-cacert, --etcd-cert and --etcd-key are for an external etcd: give its --etcd URL');
      }
      if (external && (opts.etcdListenClient || opts.etcdListenPeer)) {
        throw usageError(
          "--etcd-listen-client and --etcd-listen-peer are for the manager's own etcd member: drop them, or --etcd",
        );
      }
      if ((opts.redisPasswordFile || opts.redisTls) && !opts.redis) {
        throw usageError('--redis-password-file and --redis-tls go with --redis HOST:PORT');
      }
      if (opts.redisTls && !opts.redisPasswordFile) {
        throw usageError('--redis-tls needs --redis-password-file: it keeps the nodes out of the managers’ Redis user');
      }
      if ((opts.join === undefined) !== (opts.token === undefined)) {
        throw usageError('--join and --token go together');
      }
      const tls = caFile ? { caFile, certFile: opts.etcdCert, keyFile: opts.etcdKey } : undefined;
      const embeddedEtcd = {
        ...(opts.etcdListenClient ? { listenClient: opts.etcdListenClient } : {}),
        ...(opts.etcdListenPeer ? { listenPeer: opts.etcdListenPeer } : {}),
      };
      // Loaded here, not at the top: each daemon's process then holds only its own code.
      const { startManager } = await import('@flotilla/manager');
      const running = await startManager({
        ...(external ? { etcd: { endpoints: opts.etcd, ...(tls ? { tls } : {}) } } : { embeddedEtcd }),
        listen: opts.listen,
        stateDir: opts.stateDir,
        httpListen: opts.httpListen,
        electionTtlSeconds: opts.electionTtl,
        ...(opts.join && opts.token ? { join: { manager: opts.join, token: opts.token } } : {}),
        ...(opts.redis
          ? {
              redis: {
                address: opts.redis,
                ...(opts.redisPasswordFile
                  ? { password: readSecretFile(opts.redisPasswordFile, '--redis-password-file') }
                  : {}),
                ...(opts.redisTls ? { tls: true } : {}),
              },
            }
          : {}),
      });
      io.err(
        `manager ${running.identity.nodeId} of cluster ${running.identity.clusterId} listening on ${running.address}\n` +
          (running.embeddedEtcd ? `its etcd member serves clients on ${running.embeddedEtcd.clientUrl}\n` : '') +
          `health and metrics on http://${running.httpAddress}/healthz and /metrics\n` +
          'join tokens: flotilla join-token worker|manager\n',
      );
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        return running.stop();
      };
      await Promise.race([
        untilSignal(stop, io),
        running.demoted.then(async () => {
          io.err(`manager ${running.identity.nodeId} was demoted: it leaves the control plane and stops\n`);
          await stop();
        }),
      ]);
    });
  manager
    .command('redis-tls')
    .description(
      "write Redis's TLS files (a server certificate of the cluster CA, its key, the CAs that issue nodes' " +
        'certificates) from the CA in a started manager’s state directory; point redis.conf at them',
    )
    .requiredOption('--state-dir <DIR>', 'the state directory of a manager of the cluster (it holds the CA key)')
    .requiredOption('--out <DIR>', 'where to write redis.crt, redis.key (mode 0600) and ca.crt')
    .addOption(
      new Option('--host <NAME|IP>', 'a name or address clients dial Redis by, besides redis.flotilla.internal')
        .argParser(collect)
        .default([] as string[]),
    )
    .action(async (opts) => {
      const { writeRedisTlsFiles } = await import('@flotilla/manager');
      const files = await writeRedisTlsFiles(opts.stateDir, opts.out, opts.host);
      io.out(
        `tls-port 6379\nport 0\ntls-cert-file ${files.certFile}\ntls-key-file ${files.keyFile}\n` +
          `tls-ca-cert-file ${files.caFile}\ntls-auth-clients yes\n`,
      );
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
    .option(
      '--probe-listen <HOST:PORT>',
      'where peers ask this node whether it hears a leader (mutual TLS; port 0: any free port)',
      '0.0.0.0:0',
    )
    .addOption(
      new Option(
        '--redis <HOST:PORT>',
        "reach the cluster's Redis (container logs) here instead of at the address the managers tell",
      ).argParser(redisAddress),
    )
    .addOption(
      new Option('--executor <KIND>', 'how tasks run: containerd, process (no images), or auto')
        .choices(['auto', 'containerd', 'process'] as const)
        .default('auto' as const),
    )
    .option('--containerd-socket <PATH>', "containerd's gRPC socket", '/run/containerd/containerd.sock')
    .option('--containerd-namespace <NS>', "containerd namespace for this node's containers", 'flotilla')
    .option(
      '--registry-auth <FILE>',
      'Docker-style config.json with registry logins (default: <state-dir>/registry-auth.json)',
    )
    .option(
      '--insecure-registry <HOST:PORT>',
      'a registry that may be reached over plain HTTP (repeatable; loopback registries always may)',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option('--registry-ca <FILE>', 'PEM CA certificate(s) to trust for registries')
    .option(
      '--seccomp-profile <FILE>',
      "the containers' default seccomp profile, Docker's format (default: Debian's, from golang-github-containers-common)",
    )
    .option('--no-overlay', "don't wire containers into the cluster's networks (each gets loopback only)")
    .option(
      '--dns-upstream <IP[:PORT]>',
      "a resolver for names outside the cluster (repeatable; default: the node's /etc/resolv.conf; none: no forwarding)",
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .addOption(
      new Option('--drain-ms <MS>', 'how long a stopping task keeps serving after it left the load balancing')
        .argParser(nonNegativeInt('--drain-ms'))
        .default(2000),
    )
    .addOption(
      new Option(
        '--manager-listen <HOST:PORT>',
        'let this node be promoted (flotilla node promote): where its manager would serve agents and the CLI',
      ).argParser(hostPort('--manager-listen', '10.0.0.1:4242')),
    )
    .addOption(
      new Option(
        '--etcd-listen-client <HOST:PORT>',
        "with --manager-listen: where that manager's etcd member serves clients (default: port 2379 on its host)",
      ).argParser(hostPort('--etcd-listen-client', '10.0.0.1:2379')),
    )
    .addOption(
      new Option(
        '--etcd-listen-peer <HOST:PORT>',
        "with --manager-listen: where that manager's etcd member talks to the others (default: port 2380 on its host)",
      ).argParser(hostPort('--etcd-listen-peer', '10.0.0.1:2380')),
    )
    .action(async (opts) => {
      if ((opts.join === undefined) !== (opts.token === undefined)) {
        throw usageError('--join and --token go together');
      }
      if (opts.managerListen && /^(0\.0\.0\.0|\[::\]):/.test(opts.managerListen)) {
        throw usageError('--manager-listen: give an address the other nodes and managers reach, not every address');
      }
      if (!opts.managerListen && (opts.etcdListenClient || opts.etcdListenPeer)) {
        throw usageError(
          '--etcd-listen-client and --etcd-listen-peer are for a promoted manager: add --manager-listen',
        );
      }
      const promoted = opts.managerListen
        ? await promotedManager(opts.stateDir, opts.managerListen, opts.etcdListenClient, opts.etcdListenPeer)
        : undefined;
      const { startAgent } = await import('@flotilla/agent');
      const running = await startAgent({
        stateDir: opts.stateDir,
        httpListen: opts.httpListen,
        probeListen: opts.probeListen,
        runtime: {
          executor: opts.executor,
          containerdSocket: opts.containerdSocket,
          containerdNamespace: opts.containerdNamespace,
          insecureRegistries: opts.insecureRegistry,
          ...(opts.registryAuth ? { registryAuthFile: opts.registryAuth } : {}),
          ...(opts.registryCa ? { registryCa: readFileSync(opts.registryCa, 'utf8') } : {}),
          overlay: opts.overlay,
          drainMs: opts.drainMs,
          ...(opts.seccompProfile ? { seccompProfile: opts.seccompProfile } : {}),
          ...(opts.dnsUpstream.length > 0 ? { dnsUpstreams: opts.dnsUpstream.filter((u) => u !== 'none') } : {}),
        },
        ...(opts.redis ? { redis: opts.redis } : {}),
        ...(opts.join && opts.token ? { join: { manager: opts.join, token: opts.token } } : {}),
        ...(opts.hostname ? { hostname: opts.hostname } : {}),
        ...(promoted && opts.managerListen
          ? { promotion: { managerAddress: opts.managerListen, onPromotion: (p) => promoted.promote(p) } }
          : {}),
      });
      io.err(
        `node ${running.credentials.nodeId} (${running.credentials.role}) started; ` +
          `health and metrics on http://${running.httpAddress}/healthz and /metrics\n` +
          (promoted ? `it can be promoted: its manager would listen on ${opts.managerListen}\n` : ''),
      );
      // A node promoted before this restart runs its manager again (the agent runs on if that fails).
      await promoted
        ?.resume()
        .catch((err: unknown) => io.err(`its manager did not start: ${(err as Error).message}\n`));
      await untilSignal(async () => {
        await promoted?.stop();
        await running.stop();
      }, io);
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
      if (role !== 'worker' && role !== 'manager') throw usageError('ROLE is worker or manager');
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

/** The manager a promoted node runs in the agent's process, loaded only when the agent may be promoted. */
async function promotedManager(stateDir: string, listen: string, listenClient?: string, listenPeer?: string) {
  const { PromotedManager } = await import('@flotilla/manager');
  return new PromotedManager({
    agentStateDir: stateDir,
    listen,
    embeddedEtcd: { ...(listenClient ? { listenClient } : {}), ...(listenPeer ? { listenPeer } : {}) },
  });
}

/** A commander parser for a whole number ≥ 0, naming the option in its error. */
function nonNegativeInt(option: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw usageError(`${option} takes a whole number of milliseconds, got "${value}"`);
    return Number(value);
  };
}
