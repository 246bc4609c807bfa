import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { NodeSpec_Role, NodeStatus_State } from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';

/** What `dev up` started, kept so `dev down` ends exactly those processes. */
interface DevState {
  pids: { name: string; pid: number }[];
  etcd: string;
  /** HOST:PORT of the Redis that holds container logs (empty when redis-server is not installed). */
  redis?: string;
  manager: string;
  nodes: number;
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
function daemon(dir: string, name: string, file: string, args: string[]): number {
  const log = openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
  });
  child.unref();
  if (!child.pid) throw new CliError(`could not start ${name} (${file})`);
  return child.pid;
}

/** Resolves once something accepts TCP connections on the port (undefined until then, for waitFor). */
function listening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
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
function startRedis(dir: string, binary: string, port: number): { pid: number; passwordFile: string } {
  const data = path.join(dir, 'redis');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  const passwordFile = path.join(dir, 'redis.password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const config = path.join(dir, 'redis.conf');
  writeFileSync(
    config,
    [
      'bind 127.0.0.1',
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
      throw new CliError(`${what} did not happen within ${ms / 1000} s: see the logs in ${devDir()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `dev up|down`: a whole cluster on this machine (etcd, Redis, a manager, agents), for trying Flotilla out. */
export function devCommand(io: Io): Command {
  const dev = new Command('dev').description('run a local cluster on this machine for trying things out');

  dev
    .command('up')
    .description('start etcd, Redis, a manager and agents on loopback (agents use the process executor)')
    .option('--nodes <N>', 'how many agents', '3')
    .action(async (opts) => {
      const nodes = Number(opts.nodes);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw new CliError('--nodes takes 1 to 50', EXIT.usage);
      const dir = devDir();
      if (existsSync(statePath(dir))) {
        const state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as DevState;
        if (state.pids.every((p) => alive(p.pid))) {
          io.out(
            `the dev cluster is already up (manager ${state.manager}, ${state.nodes} nodes); flotilla dev down stops it\n`,
          );
          return;
        }
        throw new CliError(`a dev cluster in ${dir} is partly down: run flotilla dev down first`);
      }
      const etcdBin = process.env.FLOTILLA_ETCD_BIN ?? '/usr/bin/etcd';
      if (!existsSync(etcdBin)) {
        throw new CliError(`${etcdBin} is missing: install Debian's etcd-server (npm start does, as root)`);
      }
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const state: DevState = { pids: [], etcd: '', manager: '', nodes };
      const save = () => writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
      const [client, peer, managerPort] = [await freePort(), await freePort(), await freePort()];
      state.etcd = `http://127.0.0.1:${client}`;
      // The manager's address is fixed before it starts, so the CLI and agents know it at once.
      state.manager = `127.0.0.1:${managerPort}`;
      state.pids.push({
        name: 'etcd',
        pid: daemon(dir, 'etcd', etcdBin, [
          '--name',
          'dev',
          '--data-dir',
          path.join(dir, 'etcd'),
          '--listen-client-urls',
          state.etcd,
          '--advertise-client-urls',
          state.etcd,
          '--listen-peer-urls',
          `http://127.0.0.1:${peer}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${peer}`,
          '--initial-cluster',
          `dev=http://127.0.0.1:${peer}`,
          '--log-level',
          'error',
        ]),
      });
      save();
      // Redis holds the tasks' output (service logs). Without redis-server the cluster still runs, without logs.
      const redisBin = process.env.FLOTILLA_REDIS_BIN ?? '/usr/bin/redis-server';
      const redisArgs: string[] = [];
      if (existsSync(redisBin)) {
        const redisPort = await freePort();
        const redis = startRedis(dir, redisBin, redisPort);
        state.redis = `127.0.0.1:${redisPort}`;
        state.pids.push({ name: 'redis', pid: redis.pid });
        save();
        await waitFor('Redis listening', () => listening(redisPort));
        redisArgs.push('--redis', state.redis, '--redis-password-file', redis.passwordFile);
      } else {
        io.err(`${redisBin} is missing: no container logs (install Debian's redis-server; npm start does, as root)\n`);
      }
      const self = process.argv[1] as string;
      state.pids.push({
        name: 'manager',
        pid: daemon(dir, 'manager', process.execPath, [
          self,
          'manager',
          'start',
          '--etcd',
          state.etcd,
          '--listen',
          state.manager,
          '--state-dir',
          path.join(dir, 'manager'),
          ...redisArgs,
        ]),
      });
      save();
      io.err(
        `etcd on ${state.etcd}${state.redis ? `, Redis on ${state.redis}` : ''}, manager on ${state.manager}; ` +
          'waiting for the manager…\n',
      );
      const token = await waitFor('the manager answering', async () => {
        const c = controlClient();
        try {
          return (await call(c, c.getJoinToken, { role: NodeSpec_Role.ROLE_WORKER, rotate: false })).token;
        } finally {
          c.close();
        }
      });
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
      await waitFor(`${nodes} nodes ready`, async () => {
        const c = controlClient();
        try {
          const ready = (await call(c, c.listNodes, {})).nodes.filter(
            (n) => n.status?.state === NodeStatus_State.STATE_READY,
          );
          return ready.length >= nodes ? true : undefined;
        } finally {
          c.close();
        }
      });
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
      // Agents first, then the manager, then Redis and etcd: each stops cleanly while what it talks to is still
      // there (the agents' last lines reach Redis).
      for (const p of [...state.pids].reverse()) {
        if (!alive(p.pid)) continue;
        process.kill(p.pid, 'SIGTERM');
        const deadline = Date.now() + 15_000;
        while (alive(p.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
      io.out(`the dev cluster is down (${state.pids.length} processes stopped, ${dir} removed)\n`);
    });

  return dev;
}
