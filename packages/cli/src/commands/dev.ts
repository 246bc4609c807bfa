import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { Code, FlotillaError, NodeSpec_Role, NodeStatus_State } from '@flotilla/api';
import { destroyContainerd, privateContainerdConfig } from '@flotilla/containerd';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import {
  createDevHosts,
  cutDevHost,
  DEV_GATEWAY,
  type DevHost,
  inHost,
  removeDevHosts,
  restoreDevHost,
} from './dev-hosts.js';
import { pushExampleImages } from './dev-images.js';

/** One node of a dev cluster on namespace hosts: its host, containerd and agent. */
interface DevNode {
  host: DevHost;
  containerd: { pid: number; socket: string; namespace: string; dir: string; config: string };
  agent: { pid: number; stateDir: string; args: string[] };
  /** Killed by `dev kill-node` (until `dev restore-node`). */
  killed?: boolean;
}

/** What `dev up` started, kept so `dev down` ends exactly those processes. */
interface DevState {
  /** hosts: each node a network namespace with its own containerd; loopback: process executors, no isolation. */
  mode?: 'hosts' | 'loopback';
  pids: { name: string; pid: number }[];
  etcd: string;
  /** HOST:PORT of the Redis that holds container logs (empty when redis-server is not installed). */
  redis?: string;
  manager: string;
  nodes: number;
  /** HOST:PORT of the registry the examples' images are pushed to (hosts mode). */
  registry?: string;
  /** The examples' image as pushed there. */
  image?: string;
  hosts?: DevNode[];
}

function devDir(): string {
  return process.env.FLOTILLA_DEV_DIR ?? path.join(homedir(), '.flotilla-dev');
}

const statePath = (dir: string) => path.join(dir, 'state.json');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process that outlives this command, its output going to a log file in the dev directory. */
function daemon(dir: string, name: string, file: string, args: string[], env: Record<string, string> = {}): number {
  const log = openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env },
  });
  child.unref();
  if (!child.pid) throw new FlotillaError(Code.FailedPrecondition, `could not start ${name} (${file})`);
  return child.pid;
}

/** Resolves once something accepts TCP connections on the port (undefined until then, for waitFor). */
function listening(port: number, host = '127.0.0.1'): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

/**
 * Starts redis-server for container logs, on loopback with a password: its config file (mode 0600) holds the
 * password, so it is not on a command line for every local user to read. Returns the password's file.
 */
function startRedis(
  dir: string,
  binary: string,
  port: number,
  bind = '127.0.0.1',
): { pid: number; passwordFile: string } {
  const data = path.join(dir, 'redis');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  const passwordFile = path.join(dir, 'redis.password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const config = path.join(dir, 'redis.conf');
  writeFileSync(
    config,
    [
      `bind ${bind}`,
      `port ${port}`,
      `dir ${data}`,
      `requirepass ${password}`,
      // Logs are for looking at now: no snapshots to disk.
      'save ""',
      'appendonly no',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { pid: daemon(dir, 'redis', binary, [config]), passwordFile };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await Promise.resolve(probe()).catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new FlotillaError(
        Code.DeadlineExceeded,
        `${what} did not happen within ${ms / 1000} s: see the logs in ${devDir()}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `dev up|down`: a whole cluster on this machine (etcd, Redis, a manager, agents), for trying Flotilla out. */
export function devCommand(io: Io): Command {
  const dev = new Command('dev').description('run a local cluster on this machine for trying things out');

  dev
    .command('up')
    .description(
      'start etcd, Redis, a registry, a manager and agents; as root, each agent in a network-namespace host with ' +
        'its own containerd (otherwise on loopback with the process executor)',
    )
    .option('--nodes <N>', 'how many agents', '3')
    .option('--managers <N>', 'how many managers: 1, or 3 (one leads; another takes over if it fails)', '1')
    .option('--loopback', 'agents on loopback with the process executor, even as root')
    .option(
      '--dns-upstream <IP[:PORT]>',
      "where containers' names outside the cluster are resolved (default: this machine's resolvers; none: nowhere)",
    )
    .action(async (opts) => {
      const nodes = Number(opts.nodes);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw usageError('--nodes takes 1 to 50');
      const dir = devDir();
      if (existsSync(statePath(dir))) {
        const state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as DevState;
        if (state.pids.every((p) => alive(p.pid))) {
          io.out(
            `the dev cluster is already up (manager ${state.manager}, ${state.nodes} nodes); flotilla dev down stops it\n`,
          );
          return;
        }
        throw new FlotillaError(
          Code.FailedPrecondition,
          `a dev cluster in ${dir} is partly down: run flotilla dev down first`,
        );
      }
      const etcdBin = process.env.FLOTILLA_ETCD_BIN ?? '/usr/bin/etcd';
      if (!existsSync(etcdBin)) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${etcdBin} is missing: install Debian's etcd-server (npm start does, as root)`,
        );
      }
      const managerCount = Number(opts.managers);
      if (managerCount !== 1 && managerCount !== 3) throw usageError('--managers takes 1 or 3');
      const missing = opts.loopback ? 'asked for with --loopback' : hostsModeMissing();
      if (missing && managerCount > 1) {
        throw usageError(`--managers 3 runs on namespace hosts, which cannot run here: ${missing}`);
      }
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!missing) {
        await upOnHosts(io, dir, nodes, managerCount, etcdBin, opts.dnsUpstream);
        return;
      }
      io.err(`nodes share this machine's network and run tasks as plain processes: ${missing}\n`);
      const state: DevState = { mode: 'loopback', pids: [], etcd: '', manager: '', nodes };
      const save = () => writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
      const [client, peer, managerPort] = [await freePort(), await freePort(), await freePort()];
      state.etcd = `http://127.0.0.1:${client}`;
      // The manager's address is fixed before it starts, so the CLI and agents know it at once.
      state.manager = `127.0.0.1:${managerPort}`;
      state.pids.push({
        name: 'etcd',
        pid: daemon(dir, 'etcd', etcdBin, etcdArgs(dir, client, peer)),
      });
      save();
      const redisArgs = await startLogs(io, dir, state, { host: '127.0.0.1', port: await freePort() }, save);
      const self = process.argv[1] as string;
      startFirstManager(dir, state, redisArgs);
      save();
      io.err(
        `etcd on ${state.etcd}${state.redis ? `, Redis on ${state.redis}` : ''}, manager on ${state.manager}; ` +
          'waiting for the manager…\n',
      );
      const token = await waitFor('the manager answering', () => joinToken(NodeSpec_Role.ROLE_WORKER));
      for (let i = 1; i <= nodes; i++) {
        state.pids.push({
          name: `agent-${i}`,
          pid: daemon(dir, `agent-${i}`, process.execPath, [
            self,
            'agent',
            'start',
            '--join',
            state.manager,
            '--token',
            token,
            '--state-dir',
            path.join(dir, `agent-${i}`),
            '--hostname',
            `dev-node-${i}`,
            // Until each dev node is a namespace host with its own containerd, they all share loopback.
            '--executor',
            'process',
          ]),
        });
      }
      save();
      await waitFor(`${nodes} nodes ready`, () => nodesReady(nodes));
      io.out(
        `the dev cluster is up: 1 manager, ${nodes} nodes (process executor: tasks run their command as processes,\n` +
          `without images or isolation, until each dev node gets its own containerd). Logs: ${dir}\n` +
          'Try: flotilla node ls · flotilla stack deploy -c examples/hello/stack.yml hello · flotilla service ps hello_hello' +
          ' · flotilla service logs -f hello_hello\n' +
          'Stop it: flotilla dev down\n',
      );
    });

  dev
    .command('down')
    .description('stop everything dev up started and remove its data (safe to run twice)')
    .action(async () => {
      const dir = devDir();
      if (!existsSync(statePath(dir))) {
        io.out('no dev cluster is up\n');
        return;
      }
      const state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as DevState;
      // Agents first (and, on hosts, their containerds with every container), then the manager, then the
      // registry, Redis and etcd: each stops cleanly while what it talks to is still there.
      const nodes = state.hosts ?? [];
      for (const n of nodes) await stop(n.agent.pid);
      const taskNamespaces = await devTaskNamespaces(nodes.map((n) => n.host));
      for (const n of nodes) {
        await destroyContainerd({ ...n.containerd, pid: n.containerd.pid || undefined });
      }
      for (const p of [...state.pids].reverse()) await stop(p.pid);
      if (state.mode === 'hosts' || nodes.length > 0) {
        await removeDevHosts(
          nodes.map((n) => n.host),
          taskNamespaces,
        );
      }
      rmSync(dir, { recursive: true, force: true });
      io.out(
        `the dev cluster is down (${state.pids.length + nodes.length * 2} processes stopped${nodes.length > 0 ? `, ${nodes.length} hosts removed` : ''}, ${dir} removed)\n`,
      );
    });

  dev
    .command('kill-node')
    .description("simulate a host failure: kill the node's agent, containerd and containers, and cut its link")
    .argument('<NODE>', 'dev-node-N, or N')
    .action(async (ref) => {
      const { dir, state, node } = devNode(ref);
      if (node.killed) {
        io.out(`${node.host.name} is down already\n`);
        return;
      }
      await cutDevHost(node.host);
      if (alive(node.agent.pid)) process.kill(node.agent.pid, 'SIGKILL');
      // Its containers die with it (a dead host's do), but its data stays for the restore.
      await destroyContainerd({ ...node.containerd, pid: node.containerd.pid || undefined }, { keepDir: true });
      node.killed = true;
      writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
      io.out(`${node.host.name} is down: its agent, containerd and containers were killed and its link cut\n`);
    });

  dev
    .command('restore-node')
    .description('bring back a node killed with kill-node: its link, containerd and agent')
    .argument('<NODE>', 'dev-node-N, or N')
    .action(async (ref) => {
      const { dir, state, node } = devNode(ref);
      if (!node.killed) {
        io.out(`${node.host.name} is up\n`);
        return;
      }
      await restoreDevHost(node.host);
      await startNode(dir, node);
      node.killed = false;
      writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
      io.out(`${node.host.name} is back: its agent rejoins with the same identity\n`);
    });

  return dev;
}

/** What stops the hosts mode, or '' when it can run: root and the runtime's and network's tools. */
function hostsModeMissing(): string {
  if (process.getuid?.() !== 0) return 'not running as root (namespace hosts and containerd need it)';
  const tools: [string, string][] = [
    ['/usr/bin/containerd', 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    ['/usr/bin/docker-registry', 'docker-registry'],
    ['/usr/sbin/nft', 'nftables'],
    ['/bin/busybox', 'busybox-static'],
    ['/usr/bin/nsenter', 'util-linux'],
  ];
  const absent = tools.filter(([file]) => !existsSync(file) && !existsSync(file.replace('/usr/sbin/', '/usr/bin/')));
  return absent.length > 0
    ? `missing Debian packages: ${absent.map(([, pkg]) => pkg).join(' ')} (npm start installs them)`
    : '';
}

async function stop(pid: number): Promise<void> {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function devNode(ref: string): { dir: string; state: DevState; node: DevNode } {
  const dir = devDir();
  if (!existsSync(statePath(dir)))
    throw new FlotillaError(Code.FailedPrecondition, 'no dev cluster is up: flotilla dev up starts one');
  const state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as DevState;
  if (state.mode !== 'hosts' || !state.hosts) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      'this dev cluster runs on loopback: kill-node and restore-node need namespace hosts (root)',
    );
  }
  const name = /^\d+$/.test(ref) ? `dev-node-${ref}` : ref;
  const node = state.hosts.find((n) => n.host.name === name);
  if (!node) throw usageError(`no ${name}: the nodes are ${state.hosts.map((n) => n.host.name).join(', ')}`);
  return { dir, state, node };
}

/** The task namespaces (/run/netns/flt-<task>) whose veths are in these hosts: what their agents made. */
async function devTaskNamespaces(hosts: readonly DevHost[]): Promise<string[]> {
  const prefixes = new Set<string>();
  for (const host of hosts) {
    const out = await new Promise<string>((resolve) =>
      execFile('ip', ['-n', host.netns, '-o', 'link', 'show'], (err, stdout) => resolve(err ? '' : stdout)),
    );
    for (const m of out.matchAll(/\d+: fv(\w{10})\d+@/g)) prefixes.add(m[1] as string);
  }
  const all = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  return all.filter((n) => n.startsWith('flt-') && prefixes.has(n.slice(4, 14)));
}

/** Starts a node's containerd inside its host, waits for its socket, then its agent. */
async function startNode(dir: string, node: DevNode): Promise<void> {
  node.containerd.pid = daemon(dir, `${node.host.name}-containerd`, 'nsenter', [
    ...inHost(node.host).slice(1),
    '/usr/bin/containerd',
    '--config',
    node.containerd.config,
    '--log-level',
    'warn',
  ]);
  await waitFor(`containerd of ${node.host.name}`, () => (existsSync(node.containerd.socket) ? true : undefined));
  node.agent.pid = daemon(dir, `${node.host.name}-agent`, 'nsenter', [
    ...inHost(node.host).slice(1),
    ...node.agent.args,
  ]);
}

/** A dev cluster on namespace hosts: every node with its own containerd, pulling from a registry. */
async function upOnHosts(
  io: Io,
  dir: string,
  nodes: number,
  managers: number,
  etcdBin: string,
  dnsUpstream?: string,
): Promise<void> {
  const state: DevState = { mode: 'hosts', pids: [], etcd: '', manager: '', nodes, hosts: [] };
  const save = () => writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
  const hosts = await createDevHosts(nodes);
  // Recorded at once: `dev down` removes them even if what follows fails.
  state.hosts = hosts.map((host) => {
    const base = path.join(dir, host.name);
    return {
      host,
      containerd: {
        pid: 0,
        socket: path.join(base, 'containerd', 'containerd.sock'),
        namespace: `flotilla-dev-${host.name}`,
        dir: path.join(base, 'containerd'),
        config: path.join(base, 'containerd', 'config.toml'),
      },
      agent: { pid: 0, stateDir: path.join(base, 'agent'), args: [] },
    };
  });
  save();
  const [client, peer] = [await freePort(), await freePort()];
  state.etcd = `http://127.0.0.1:${client}`;
  state.pids.push({ name: 'etcd', pid: daemon(dir, 'etcd', etcdBin, etcdArgs(dir, client, peer)) });
  save();
  // Redis, the registry and the manager listen on the hosts' bridge, where the agents reach them.
  const redisArgs = await startLogs(io, dir, state, { host: DEV_GATEWAY, port: 6379 }, save);
  state.registry = `${DEV_GATEWAY}:5000`;
  state.pids.push({ name: 'registry', pid: startRegistry(dir, state.registry) });
  state.manager = `${DEV_GATEWAY}:4242`;
  const self = process.argv[1] as string;
  startFirstManager(dir, state, redisArgs);
  save();
  io.err(`hosts ${hosts.map((h) => `${h.name} ${h.address}`).join(', ')}; manager on ${state.manager}, waiting…\n`);
  const token = await waitFor('the manager answering', () => joinToken(NodeSpec_Role.ROLE_WORKER));
  // Further managers join through the first with the manager token; agents learn every manager.
  for (let m = 2; m <= managers; m++) {
    const managerToken = await waitFor('the manager token', () => joinToken(NodeSpec_Role.ROLE_MANAGER));
    const listen = `${DEV_GATEWAY}:${4241 + m}`;
    state.pids.push({
      name: `manager-${m}`,
      // The CLI keeps talking to the first manager (any forwards writes to the leader): the others write their
      // CLI configuration aside.
      pid: daemon(
        dir,
        `manager-${m}`,
        process.execPath,
        [
          ...managerArgs(state, path.join(dir, `manager-${m}`), listen, redisArgs),
          '--join',
          state.manager,
          '--token',
          managerToken,
        ],
        { FLOTILLA_CONFIG_DIR: path.join(dir, `manager-${m}`, 'cli') },
      ),
    });
    save();
    await waitFor(`manager ${listen} answering`, () => listening(4241 + m, DEV_GATEWAY));
  }
  await waitFor('the registry answering', () => listening(5000, DEV_GATEWAY));
  state.image = await pushExampleImages(state.registry);
  save();
  for (const node of state.hosts ?? []) {
    mkdirSync(path.dirname(node.containerd.config), { recursive: true });
    writeFileSync(node.containerd.config, privateContainerdConfig(node.containerd.dir, node.containerd.socket));
    node.agent.args = [
      process.execPath,
      self,
      'agent',
      'start',
      '--state-dir',
      node.agent.stateDir,
      '--executor',
      'containerd',
      '--containerd-socket',
      node.containerd.socket,
      '--containerd-namespace',
      node.containerd.namespace,
      '--insecure-registry',
      state.registry,
      ...(dnsUpstream ? ['--dns-upstream', dnsUpstream] : []),
    ];
    const join = ['--join', state.manager, '--token', token, '--hostname', node.host.name];
    // The first start joins; restarts (restore-node) use the credentials in the state directory.
    const args = node.agent.args;
    node.agent.args = [...args, ...join];
    await startNode(dir, node);
    node.agent.args = args;
    save();
  }
  await waitFor(`${nodes} nodes ready`, () => nodesReady(nodes));
  io.out(
    `the dev cluster is up: ${managers} manager${managers > 1 ? 's' : ''}, ${nodes} nodes, each a network-namespace host (${hosts.map((h) => h.address).join(', ')}) ` +
      `with its own containerd, pulling from the registry at ${state.registry}. Logs: ${dir}\n` +
      `Try: FLOTILLA_REGISTRY=${state.registry} flotilla stack deploy -c examples/web/stack.yml web · ` +
      `curl http://${hosts[0]?.address}:8080/ · flotilla dev kill-node 1 · flotilla dev restore-node 1\n` +
      'Stop it: flotilla dev down\n',
  );
}

/** The control plane's join token for a role, once a manager answers. */
async function joinToken(role: NodeSpec_Role): Promise<string> {
  const c = controlClient();
  try {
    return (await call(c, c.getJoinToken, { role, rotate: false })).token;
  } finally {
    c.close();
  }
}

/** True once at least `count` nodes are ready (undefined until then, for waitFor). */
async function nodesReady(count: number): Promise<true | undefined> {
  const c = controlClient();
  try {
    const ready = (await call(c, c.listNodes, {})).nodes.filter(
      (n) => n.status?.state === NodeStatus_State.STATE_READY,
    );
    return ready.length >= count ? true : undefined;
  } finally {
    c.close();
  }
}

/**
 * Redis for the tasks' output (service logs), on `host:port`; returns the manager's arguments for it. Without
 * redis-server the cluster still runs, without logs, and says so.
 */
async function startLogs(
  io: Io,
  dir: string,
  state: DevState,
  where: { host: string; port: number },
  save: () => void,
): Promise<string[]> {
  const { host, port } = where;
  const redisBin = process.env.FLOTILLA_REDIS_BIN ?? '/usr/bin/redis-server';
  if (!existsSync(redisBin)) {
    io.err(`${redisBin} is missing: no container logs (install Debian's redis-server; npm start does, as root)\n`);
    return [];
  }
  const redis = startRedis(dir, redisBin, port, host);
  state.redis = `${host}:${port}`;
  state.pids.push({ name: 'redis', pid: redis.pid });
  // Recorded before waiting: `dev down` stops it even if it never answers.
  save();
  await waitFor('Redis listening', () => listening(port, host));
  return ['--redis', state.redis, '--redis-password-file', redis.passwordFile];
}

/** The first manager (it creates the cluster), at `state.manager`. */
function startFirstManager(dir: string, state: DevState, redisArgs: string[]): void {
  const args = managerArgs(state, path.join(dir, 'manager'), state.manager, redisArgs);
  state.pids.push({ name: 'manager', pid: daemon(dir, 'manager', process.execPath, args) });
}

/** `flotilla manager start` for a dev manager: on etcd, listening where agents reach it, logs to Redis. */
function managerArgs(state: DevState, stateDir: string, listen: string, redisArgs: string[]): string[] {
  const self = process.argv[1] as string;
  return [self, 'manager', 'start', '--etcd', state.etcd, '--listen', listen, '--state-dir', stateDir, ...redisArgs];
}

function etcdArgs(dir: string, client: number, peer: number): string[] {
  const url = `http://127.0.0.1:${client}`;
  return [
    '--name',
    'dev',
    '--data-dir',
    path.join(dir, 'etcd'),
    '--listen-client-urls',
    url,
    '--advertise-client-urls',
    url,
    '--listen-peer-urls',
    `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peer}`,
    '--initial-cluster',
    `dev=http://127.0.0.1:${peer}`,
    '--log-level',
    'error',
  ];
}

/** Debian's docker-registry for the examples' images, with its storage in the dev directory. */
function startRegistry(dir: string, address: string): number {
  const storage = path.join(dir, 'registry');
  mkdirSync(storage, { recursive: true });
  const config = path.join(dir, 'registry.yml');
  writeFileSync(
    config,
    JSON.stringify({
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
      http: { addr: address, secret: randomBytes(16).toString('hex') },
    }),
  );
  return daemon(dir, 'registry', '/usr/bin/docker-registry', ['serve', config]);
}
