import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { startContainerd, type TestContainerd } from './containerd-server.js';
import { type DaemonProcess, startDaemon } from './daemon-process.js';
import { createNetnsHosts, type NetnsHost, type NetnsHosts, sweepNetnsHosts } from './netns-hosts.js';
import { pushTestImages, startRegistry, type TestImageRefs, type TestRegistry } from './registry-server.js';
import { startEtcd, type TestServer } from './servers.js';
import { tempDir } from './temp-dir.js';

/** One namespace host of a test cluster: its containerd and the built agent running inside it. */
export interface ClusterNode {
  host: NetnsHost;
  containerd: TestContainerd;
  agent: DaemonProcess;
  stateDir: string;
  /** The node's ID, from the agent's start-up line. */
  nodeId: string;
  /** `ctr` against this node's containerd and namespace. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  /** Stops the agent (SIGTERM: its containers keep running) and starts it again from its state directory. */
  restartAgent(): Promise<void>;
}

export interface NetnsCluster {
  hosts: NetnsHosts;
  nodes: ClusterNode[];
  manager: DaemonProcess;
  /** HOST:PORT of the manager, on the underlay gateway. */
  managerAddress: string;
  registry: TestRegistry;
  images: { busybox: TestImageRefs };
  /** Environment for the built CLI (its config directory points at this cluster). */
  env: NodeJS.ProcessEnv;
  /** Runs the built `flotilla` against the cluster. */
  cli(args: string[]): Promise<{ code: number | null; stdout: string; output: string }>;
  /** Stops everything and removes what the cluster made (namespaces, links, directories); safe to call twice. */
  close(): Promise<void>;
}

export interface NetnsClusterOptions {
  /** The built `flotilla` command. */
  bin: string;
  cwd: string;
  hosts: number;
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
  const dirs = [tempDir('netns-cluster-manager'), tempDir('netns-cluster-cli')];
  const [managerDir, cliDir] = dirs.map((d) => d.path) as [string, string];
  const env = { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: options.logLevel ?? 'warn' };
  const daemons: DaemonProcess[] = [];
  const containerds: TestContainerd[] = [];
  let hosts: NetnsHosts | undefined;
  let etcd: TestServer | undefined;
  let registry: TestRegistry | undefined;
  const nodes: ClusterNode[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(daemons.map((d) => d.stop(5_000)));
    await Promise.all(containerds.map((c) => c.destroy()));
    // Task namespaces the agents made (their veths went with the hosts' namespaces).
    for (const name of netnsNames()) {
      if (!before.has(name) && name.startsWith('flt-') && !hosts?.hosts.some((h) => h.netns === name)) {
        await exec('ip', ['netns', 'del', name]).catch(() => undefined);
      }
    }
    await hosts?.close();
    await Promise.all([etcd?.destroy(), registry?.stop()]);
    for (const d of dirs) d.remove();
    for (const n of nodes) if (existsSync(n.stateDir)) await exec('rm', ['-rf', n.stateDir]).catch(() => undefined);
  };
  const cli = (args: string[]) => runCommand(options.bin, args, env, options.cwd);
  try {
    hosts = await createNetnsHosts({ count: options.hosts });
    const gateway = hosts.gateway;
    [etcd, registry] = await Promise.all([startEtcd(), startRegistry({ host: gateway })]);
    const images = await pushTestImages(registry.address, undefined, { insecure: true });
    const manager = startDaemon(
      options.bin,
      ['manager', 'start', '--etcd', etcd.url, '--listen', `${gateway}:0`, '--state-dir', managerDir],
      { cwd: options.cwd, env },
    );
    daemons.push(manager);
    const managerAddress = (await manager.waitFor(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/, 30_000))[1] as string;
    const token = (await cli(['join-token', 'worker', '-q'])).stdout.trim();
    if (!token) throw new Error('no join token from the manager');
    const started = await Promise.all(
      hosts.hosts.map(async (host) => {
        const containerd = await startContainerd({ label: host.name, wrap: host.prefix });
        containerds.push(containerd);
        const stateDir = tempDir(`netns-cluster-${host.name}`).path;
        const start = (join: string[]) =>
          startDaemon(
            host.prefix[0] as string,
            [...host.prefix.slice(1), options.bin, 'agent', 'start', ...join, ...agentArgs],
            { cwd: options.cwd, env },
          );
        const agentArgs = [
          '--state-dir',
          stateDir,
          '--hostname',
          host.name,
          '--executor',
          'containerd',
          '--containerd-socket',
          containerd.socket,
          '--containerd-namespace',
          containerd.namespace,
          '--insecure-registry',
          registry?.address as string,
          '--http-listen',
          '127.0.0.1:0',
          ...(options.agentArgs ?? []),
        ];
        const agent = start(['--join', managerAddress, '--token', token]);
        daemons.push(agent);
        const nodeId = (await agent.waitFor(/node (\w+) \(worker\) started/, 30_000))[1] as string;
        const node: ClusterNode = {
          host,
          containerd,
          agent,
          stateDir,
          nodeId,
          async restartAgent() {
            await node.agent.stop(15_000);
            node.agent = start([]);
            daemons.push(node.agent);
            await node.agent.waitFor(/node \w+ \(worker\) started/, 30_000);
          },
          ctr: (args, timeoutMs = 30_000) =>
            exec('ctr', ['-a', containerd.socket, '-n', containerd.namespace, ...args], timeoutMs),
        };
        return node;
      }),
    );
    nodes.push(...started);
    return {
      hosts,
      nodes,
      manager,
      managerAddress,
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
