import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Code, FlotillaError, NodeSpec_Role, NodeStatus_State } from '@flotilla/api';
import {
  awaitReadyPort,
  type DetachedProcess,
  detachedLauncher,
  errorMessage,
  freePort,
  type Launch,
  type ProcessSpec,
  redisServer,
  registryServer,
  serverBinary,
} from '@flotilla/devhosts';
import { call, controlClient } from '../control-client.js';
import type { Io } from '../io.js';
import { type DevState, writeDevState } from './dev-state.js';

/**
 * The steps of `dev up` that both modes take. Every process is a daemon that outlives the command, its output in
 * `<dir>/<name>.log`, and is recorded in the state file as soon as it runs: `dev down` ends it even if a later
 * step fails.
 */
export class DevUp {
  private readonly launch: Launch<DetachedProcess>;
  /** The Redis `planLogs` planned and `startLogs` starts. */
  private logs: { binary: string; where: { host: string; port: number }; password: string } | undefined;

  constructor(
    readonly io: Io,
    readonly dir: string,
    readonly state: DevState,
  ) {
    this.launch = detachedLauncher(dir, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' });
  }

  save(): void {
    writeDevState(this.dir, this.state);
  }

  /**
   * A launcher that hands each process it starts to `record` (and saves the state) before waiting for it to be
   * ready; by default it is one of the state's `pids`.
   */
  launcher(record?: (pid: number, spec: ProcessSpec) => void): Launch<DetachedProcess> {
    const keep = record ?? ((pid, spec) => this.state.pids.push({ name: spec.name, pid }));
    return async (spec) => {
      const proc = await this.launch({ ...spec, readyPort: undefined }).catch((err) => this.fail(err));
      keep(proc.pid, spec);
      this.save();
      await awaitReadyPort(proc, spec).catch((err) => this.fail(err));
      return proc;
    };
  }

  /** A failure as the user sees it: what went wrong, and where to read more (a FlotillaError says so already). */
  fail(err: unknown): never {
    if (err instanceof FlotillaError) throw err;
    throw new FlotillaError(Code.FailedPrecondition, `${errorMessage(err).trim()}\nsee the logs in ${this.dir}`);
  }

  /** Polls `probe` until it gives a value; fails after `ms`, pointing at the logs. */
  async waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      // Not answering yet (a manager starting): asked again until the deadline.
      const value = await Promise.resolve(probe()).catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${what} did not happen within ${ms / 1000} s: see the logs in ${this.dir}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Redis for the tasks' output (service logs), on `host:port` with the managers' password, over TLS: where it will
   * be and the managers' arguments for it (`startLogs` starts it once the first manager made the cluster CA).
   * Without redis-server the cluster still runs, without logs, and says so.
   */
  planLogs(where: { host: string; port: number }): string[] {
    const binary = serverBinary('redis');
    if (!existsSync(binary)) {
      this.io.err(`${binary} is missing: no container logs (install Debian's redis-server; npm start does, as root)\n`);
      return [];
    }
    const password = randomBytes(24).toString('base64url');
    // The managers read it from a file (mode 0600), so it is on no command line.
    const passwordFile = path.join(this.dir, 'redis.password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    this.logs = { binary, where, password };
    this.state.redis = `${where.host}:${where.port}`;
    return ['--redis', this.state.redis, '--redis-password-file', passwordFile, '--redis-tls'];
  }

  /**
   * Starts the planned Redis: TLS only, with a certificate of the cluster CA (issued from the first manager's
   * state directory), taking only clients with a certificate of that CA. The managers reconnect to it meanwhile.
   */
  async startLogs(managerName: string): Promise<void> {
    if (!this.logs) return;
    const { binary, where, password } = this.logs;
    const dataDir = path.join(this.dir, 'redis');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const { writeRedisTlsFiles } = await import('@flotilla/manager');
    const tls = await writeRedisTlsFiles(path.join(this.dir, managerName), path.join(this.dir, 'redis-tls'), [
      where.host,
    ]);
    const configFile = path.join(this.dir, 'redis.conf');
    const { spec } = redisServer({ configFile, dataDir, port: where.port, bind: where.host, password, binary, tls });
    // First in the list: `dev down` stops it last, after the managers and agents that write to it.
    await this.launcher((pid) => this.state.pids.unshift({ name: spec.name, pid }))(spec);
  }

  /** Debian's docker-registry for the examples' images, its storage in the dev directory. */
  async startRegistry(address: string): Promise<void> {
    const spec = registryServer({
      address,
      configFile: path.join(this.dir, 'registry.yml'),
      storage: path.join(this.dir, 'registry'),
      binary: serverBinary('registry'),
    });
    this.state.registry = address;
    await this.launcher()(spec);
  }

  /**
   * A manager (`flotilla manager start`) with its own etcd member (on free ports of its host, data in its state
   * directory), listening where agents reach it, logs to Redis. The first one (no `join`) creates the cluster;
   * the others add their members to its etcd.
   */
  async startManager(
    name: string,
    listen: string,
    redisArgs: string[],
    join?: { manager: string; token: string },
  ): Promise<void> {
    const stateDir = path.join(this.dir, name);
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon);
    const etcdClient = `${host}:${await freePort()}`;
    const args = [self(), 'manager', 'start', '--listen', listen, '--state-dir', stateDir];
    args.push('--etcd-listen-client', etcdClient, '--etcd-listen-peer', `${host}:${await freePort()}`);
    args.push(...redisArgs, ...(join ? ['--join', join.manager, '--token', join.token] : []));
    if (!join) this.state.etcd = `https://${etcdClient}`;
    // The CLI keeps talking to the first manager (any forwards writes to the leader): the others write their CLI
    // configuration aside.
    const env = join ? { FLOTILLA_CONFIG_DIR: path.join(stateDir, 'cli') } : undefined;
    await this.launcher()({
      name,
      command: process.execPath,
      args,
      ...(env ? { env } : {}),
      readyPort: Number(listen.slice(colon + 1)),
      readyHost: host,
      readyTimeoutMs: 30_000,
    });
  }

  /** The control plane's join token for a role, once a manager answers. */
  joinToken(role: NodeSpec_Role): Promise<string> {
    return this.waitFor(`the ${role === NodeSpec_Role.ROLE_MANAGER ? 'manager token' : 'manager answering'}`, () =>
      withClient(async (c) => (await call(c, c.getJoinToken, { role, rotate: false })).token),
    );
  }

  /** Resolves once at least `count` nodes are ready. */
  async nodesReady(count: number): Promise<void> {
    await this.waitFor(`${count} nodes ready`, () =>
      withClient(async (c) => {
        const nodes = (await call(c, c.listNodes, {})).nodes;
        const ready = nodes.filter((n) => n.status?.state === NodeStatus_State.STATE_READY);
        return ready.length >= count ? true : undefined;
      }),
    );
  }
}

/** This command's own script, to start `flotilla manager|agent` daemons with. */
export function self(): string {
  return process.argv[1] as string;
}

async function withClient<T>(use: (c: ReturnType<typeof controlClient>) => Promise<T>): Promise<T> {
  const c = controlClient();
  try {
    return await use(c);
  } finally {
    c.close();
  }
}
