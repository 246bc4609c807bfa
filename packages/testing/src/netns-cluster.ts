import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { deleteNamespace, errorMessage, freePort, hostAgentArgs, taskNamespacesOf } from '@flotilla/devhosts';
import {
  pushTestImages,
  startContainerd,
  startEtcd,
  startRegistry,
  type TestContainerd,
  type TestImageRefs,
  type TestRegistry,
  type TestServer,
  tempDir,
} from '@flotilla/test-servers';
import { type DaemonProcess, startDaemon } from './daemon-process.js';
import { type KilledRuntime, killHost } from './host-kill.js';
import { createNetnsHosts, type NetnsHost, type NetnsHosts, sweepNetnsHosts } from './netns-hosts.js';

/** One namespace host of a test cluster: its containerd and the built agent running inside it. */
export interface ClusterNode {
  host: NetnsHost;
  /** The host's containerd (a fresh one after `restore()`). */
  containerd: TestContainerd;
  /** The running agent (a new process after `restartAgent()` or `restore()`). */
  agent: DaemonProcess;
  stateDir: string;
  /** The node's ID, from the agent's start-up line. */
  nodeId: string;
  /** `ctr` against this node's containerd and namespace. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  /** Stops the agent (SIGTERM: its containers keep running) and starts it again from its state directory. */
  restartAgent(): Promise<void>;
  /**
   * A host failure, as a power cut: the underlay link goes down first (so the managers hear no goodbye, not even
   * a TCP FIN), then the agent, containerd, the shims and the containers are SIGKILLed. What a reboot would
   * wipe (mounts, runc state, cgroups, the tasks' network namespaces) is cleared by `restore()` or `close()`.
   */
  kill(): Promise<void>;
  /**
   * The host back after a `kill()`, as after a reboot: the leftovers of the dead runtime and the dead tasks'
   * network namespaces go, the link comes up, a fresh containerd starts (empty: images are pulled again) and the
   * agent starts from its state directory (no join) against it. Resolves once the agent says it started.
   */
  restore(): Promise<void>;
  /** True between `kill()` and `restore()`. */
  readonly killed: boolean;
}

/** A manager's /healthz: its HTTP status and what it says of itself. */
export interface ManagerHealth {
  status: number;
  leader: boolean;
  /** Whether etcd answers it ("answering", or how long it has not). */
  store: string;
}

/** One manager process of a test cluster. */
export interface ClusterManager {
  /** The running process (a new one after `start()`). */
  daemon: DaemonProcess;
  /** HOST:PORT of its gRPC API, on the underlay gateway. */
  address: string;
  /** HOST:PORT of its /healthz, on loopback. */
  http: string;
  /** Environment for the built CLI talking to this manager (every manager forwards writes to the leader). */
  env: NodeJS.ProcessEnv;
  /** What its /healthz answers now (undefined when it does not answer). */
  health(): Promise<ManagerHealth | undefined>;
  /** A crash: SIGKILL, no goodbye; resolves once the process is gone. */
  kill(): Promise<void>;
  /** A long pause (a GC pause, a hung disk): SIGSTOP, until resume() (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Starts it again from its state directory on the same address (no join); resolves once it answers. */
  start(): Promise<void>;
}

export interface NetnsCluster {
  hosts: NetnsHosts;
  nodes: ClusterNode[];
  /** The first manager (it leads at first). */
  manager: DaemonProcess;
  /** HOST:PORT of the first manager, on the underlay gateway. */
  managerAddress: string;
  /** Every manager, the first one first. */
  managers: ClusterManager[];
  /**
   * The cluster's etcd, on loopback: `stop()` and `restart()` keep its data. Undefined with `embeddedEtcd`
   * (each manager runs its own member then).
   */
  etcd: TestServer | undefined;
  registry: TestRegistry;
  images: { busybox: TestImageRefs };
  /** Environment for the built CLI (its config directory points at this cluster). */
  env: NodeJS.ProcessEnv;
  /** Runs the built `flotilla` against the cluster: the first manager, or the one given. */
  cli(args: string[], via?: ClusterManager): Promise<{ code: number | null; stdout: string; output: string }>;
  /** Stops everything and removes what the cluster made (namespaces, links, directories); safe to call twice. */
  close(): Promise<void>;
}

export interface NetnsClusterOptions {
  /** The built `flotilla` command. */
  bin: string;
  cwd: string;
  hosts: number;
  /** How many managers (default 1); further ones join through the first with the manager token. */
  managers?: number;
  /**
   * Managers run their own etcd members (no `--etcd`), on the underlay gateway, instead of sharing one etcd the
   * harness starts (which tests that stop etcd on purpose need).
   */
  embeddedEtcd?: boolean;
  /**
   * Manager i runs inside host i (on its address, with its own etcd member there under `embeddedEtcd`), so the
   * host's `kill()` and the manager's `kill()` together are the loss of that host; otherwise every manager runs
   * on the underlay gateway.
   */
  managersOnHosts?: boolean;
  /** More `manager start` arguments for every manager (e.g. `--election-ttl`). */
  managerArgs?: string[];
  /** More `agent start` arguments for every agent. */
  agentArgs?: string[];
  logLevel?: string;
}

const NETNS_DIR = '/run/netns';

function netnsNames(): Set<string> {
  return existsSync(NETNS_DIR) ? new Set(readdirSync(NETNS_DIR)) : new Set();
}

/**
 * A real multi-host cluster on one machine (root): namespace hosts on a 198.18.x.0/24 underlay, each with its
 * own containerd and the built `flotilla agent`; etcd on loopback, the manager and a registry on the underlay's
 * gateway, so agents reach them as they would across a network. Images are pushed to the registry first.
 */
export async function startNetnsCluster(options: NetnsClusterOptions): Promise<NetnsCluster> {
  await sweepNetnsHosts();
  const before = netnsNames();
  const dirs: { path: string; remove(): void }[] = [];
  const dir = (label: string) => {
    const d = tempDir(label);
    dirs.push(d);
    return d.path;
  };
  const managerEnv = () => ({
    ...process.env,
    FLOTILLA_CONFIG_DIR: dir('netns-cluster-cli'),
    LOG_LEVEL: options.logLevel ?? 'warn',
  });
  const env = managerEnv();
  const daemons: DaemonProcess[] = [];
  const containerds: TestContainerd[] = [];
  let hosts: NetnsHosts | undefined;
  let etcd: TestServer | undefined;
  let registry: TestRegistry | undefined;
  const nodes: ClusterNode[] = [];
  const stateDirs: string[] = [];
  /** Namespaces of tasks that died with a killed host and were not cleared yet by its `restore()`. */
  const deadTaskNetns = new Set<string>();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(daemons.map((d) => d.stop(5_000)));
    await Promise.all(containerds.map((c) => c.destroy()));
    // Task namespaces this cluster's agents made: only those wired into its hosts (other clusters on the machine
    // have theirs too), found before the hosts' namespaces, and the veths with them, go.
    const ours = new Set([...deadTaskNetns, ...(await taskNamespacesOf(hosts?.hosts ?? []))]);
    for (const name of ours) if (!before.has(name)) await removeTaskNetns(name);
    await hosts?.close();
    await Promise.all([etcd?.destroy(), registry?.stop()]);
    for (const d of dirs) d.remove();
    for (const dir of stateDirs) {
      // Said, not thrown: the rest of the clean-up still runs.
      if (existsSync(dir)) await exec('rm', ['-rf', dir]).catch((err) => warn(`could not remove ${dir}`, err));
    }
  };
  // Deploys pin images through the test registry, which serves plain HTTP on the underlay's gateway.
  const cli = (args: string[], via?: ClusterManager) =>
    runCommand(
      options.bin,
      args,
      { ...(via?.env ?? env), ...(registry ? { FLOTILLA_INSECURE_REGISTRY: registry.address } : {}) },
      options.cwd,
    );
  try {
    hosts = await createNetnsHosts({ count: options.hosts });
    const gateway = hosts.gateway;
    [etcd, registry] = await Promise.all([
      options.embeddedEtcd ? undefined : startEtcd(),
      startRegistry({ host: gateway }),
    ]);
    const images = await pushTestImages(registry.address, undefined, { insecure: true });
    const startManager = async (
      managerEnvVars: NodeJS.ProcessEnv,
      join: string[],
      on?: NetnsHost,
    ): Promise<ClusterManager> => {
      const stateDir = dir('netns-cluster-manager');
      const where = on?.address ?? gateway;
      // Its own member's addresses stay the same across restarts: its data names them.
      const [client, peer] = [`${where}:${await freePort()}`, `${where}:${await freePort()}`];
      const member = options.embeddedEtcd
        ? ['--etcd-listen-client', client, '--etcd-listen-peer', peer]
        : ['--etcd', (etcd as TestServer).url];
      // Inside a host, /healthz listens on the host's address: the host's loopback is out of this test's reach.
      const httpListen = on ? ['--http-listen', `${on.address}:0`] : [];
      const launch = async (listen: string, more: string[]) => {
        const args = ['manager', 'start', ...member, '--listen', listen, ...httpListen];
        args.push('--state-dir', stateDir, ...(options.managerArgs ?? []), ...more);
        const [command, ...argv] = [...(on?.prefix ?? []), options.bin, ...args] as [string, ...string[]];
        const daemon = startDaemon(command, argv, { cwd: options.cwd, env: managerEnvVars });
        daemons.push(daemon);
        const http = (await daemon.waitFor(/http:\/\/(\d+\.\d+\.\d+\.\d+:\d+)\/healthz/, 30_000))[1] as string;
        const address = (await daemon.waitFor(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/))[1] as string;
        return { daemon, http, address };
      };
      const launched = await launch(`${where}:0`, join);
      const manager: ClusterManager = {
        ...launched,
        env: managerEnvVars,
        health: () => health(manager.http),
        async kill() {
          manager.daemon.child.kill('SIGKILL');
          await manager.daemon.exited;
        },
        pause() {
          manager.daemon.child.kill('SIGSTOP');
        },
        resume() {
          manager.daemon.child.kill('SIGCONT');
        },
        async start() {
          Object.assign(manager, await launch(manager.address, []));
        },
      };
      return manager;
    };
    const managerHost = (i: number) => (options.managersOnHosts ? hosts?.hosts[i] : undefined);
    const first = await startManager(env, [], managerHost(0));
    const managers = [first];
    const managerAddress = first.address;
    if ((options.managers ?? 1) > 1) {
      const managerToken = (await cli(['join-token', 'manager', '-q'])).stdout.trim();
      if (!managerToken) throw new Error('no manager join token from the first manager');
      for (let m = 2; m <= (options.managers ?? 1); m++) {
        // A manager that joins writes CLI credentials too, aside in its own directory, pointing at itself.
        const join = ['--join', managerAddress, '--token', managerToken];
        managers.push(await startManager(managerEnv(), join, managerHost(m - 1)));
      }
    }
    const token = (await cli(['join-token', 'worker', '-q'])).stdout.trim();
    if (!token) throw new Error('no join token from the manager');
    const started = await Promise.all(
      hosts.hosts.map(async (host) => {
        const containerd = await startContainerd({ label: host.name, wrap: host.prefix });
        containerds.push(containerd);
        const stateDir = tempDir(`netns-cluster-${host.name}`).path;
        stateDirs.push(stateDir);
        const agentArgs = (runtime: TestContainerd) => [
          ...hostAgentArgs({ stateDir, containerd: runtime, registry: registry?.address as string }),
          '--hostname',
          host.name,
          '--http-listen',
          '127.0.0.1:0',
          ...(options.agentArgs ?? []),
        ];
        // The containerd the agent is to use: replaced by a fresh one when the host comes back from a kill().
        let runtime = containerd;
        const start = (join: string[]) => {
          const agent = startDaemon(
            host.prefix[0] as string,
            [...host.prefix.slice(1), options.bin, 'agent', 'start', ...join, ...agentArgs(runtime)],
            { cwd: options.cwd, env },
          );
          daemons.push(agent);
          return agent;
        };
        const agent = start(['--join', managerAddress, '--token', token]);
        const nodeId = (await agent.waitFor(/node (\w+) \(worker\) started/, 30_000))[1] as string;
        let killed: KilledRuntime | undefined;
        const node: ClusterNode = {
          host,
          containerd,
          agent,
          stateDir,
          nodeId,
          get killed() {
            return killed !== undefined;
          },
          async restartAgent() {
            await node.agent.stop(15_000);
            node.agent = start([]);
            await node.agent.waitFor(/node \w+ \(worker\) started/, 30_000);
          },
          async kill() {
            if (killed) return;
            killed = await killHost(node);
            for (const name of killed.taskNetns) deadTaskNetns.add(name);
          },
          async restore() {
            if (!killed) return;
            const dead = killed;
            // What a reboot wipes: the dead runtime's mounts, runc state and cgroups, and its tasks' namespaces.
            await dead.containerd.destroy();
            containerds.splice(containerds.indexOf(dead.containerd), 1);
            for (const name of dead.taskNetns) {
              await removeTaskNetns(name);
              deadTaskNetns.delete(name);
            }
            await host.restore();
            const fresh = await startContainerd({ label: host.name, wrap: host.prefix });
            containerds.push(fresh);
            runtime = fresh;
            node.containerd = fresh;
            killed = undefined;
            node.agent = start([]);
            await node.agent.waitFor(/node \w+ \(worker\) started/, 30_000);
          },
          ctr: (args, timeoutMs = 30_000) =>
            exec('ctr', ['-a', node.containerd.socket, '-n', node.containerd.namespace, ...args], timeoutMs),
        };
        return node;
      }),
    );
    nodes.push(...started);
    return {
      hosts,
      nodes,
      manager: first.daemon,
      managerAddress,
      managers,
      etcd,
      registry,
      images,
      env,
      cli,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function health(http: string): Promise<ManagerHealth | undefined> {
  try {
    const res = await fetch(`http://${http}/healthz`, { signal: AbortSignal.timeout(2_000) });
    const body = (await res.json()) as { leader?: boolean; store?: string };
    return { status: res.status, leader: body.leader === true, store: String(body.store) };
  } catch {
    // Not answering (down, or not up yet): what undefined says.
    return undefined;
  }
}

/** Removes a task's namespace if it is still there; a failure is said, not thrown, so clean-up goes on. */
async function removeTaskNetns(name: string): Promise<void> {
  if (!existsSync(`${NETNS_DIR}/${name}`)) return;
  await deleteNamespace(name).catch((err) => warn(`could not remove namespace ${name}`, err));
}

function warn(what: string, err: unknown): void {
  console.warn(`netns cluster: ${what}: ${errorMessage(err)}`);
}

function exec(command: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${command} ${args.join(' ')}: ${stderr || err.message}`), { stdout }));
      else resolve(stdout);
    });
  });
}

function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stdout: string; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env, cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, output: `${stdout}${stderr}` });
    });
    child.stdin?.end();
  });
}
