import { existsSync } from 'node:fs';
import path from 'node:path';
import { Code, FlotillaError, NodeSpec_Role } from '@flotilla/api';
import {
  createHostNetwork,
  deleteNamespace,
  destroyContainerd,
  type HostNetwork,
  type HostPlan,
  hostAgentArgs,
  namespaceHost,
  pushExampleImages,
  removeHostNetwork,
  serverBinary,
  signalPid,
  startContainerd,
  stopPid,
  taskNamespacesOf,
} from '@flotilla/devhosts';
import type { DevNode } from './dev-state.js';
import { type DevUp, self } from './dev-up.js';

/**
 * The dev cluster's hosts: one network namespace per node, joined by a bridge in this machine's own namespace,
 * on 198.19.0.0/24 (in the range reserved for benchmarking networks, so it meets no real network). The bridge
 * holds .1, where the manager, the registry and Redis listen; node i is .1i. Fixed names: one dev cluster per
 * machine, and a later `dev down` finds them from the state file.
 */
const DEV_SUBNET_PREFIX = '198.19.0';
const DEV_GATEWAY = `${DEV_SUBNET_PREFIX}.1`;
const DEV_BRIDGE = 'fltdev0';

function devNetwork(hosts: readonly HostPlan[]): HostNetwork {
  return { bridge: DEV_BRIDGE, gateway: DEV_GATEWAY, hosts };
}

function devHost(i: number): HostPlan {
  return {
    name: `dev-node-${i}`,
    netns: `fltdev-h${i}`,
    address: `${DEV_SUBNET_PREFIX}.${10 + i}`,
    veth: `fltdev-v${i}`,
  };
}

/** What stops the hosts mode, or '' when it can run: root and the runtime's and network's tools. */
export function hostsModeMissing(): string {
  if (process.getuid?.() !== 0) return 'not running as root (namespace hosts and containerd need it)';
  const tools: [string, string][] = [
    [serverBinary('containerd'), 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    [serverBinary('registry'), 'docker-registry'],
    ['/usr/sbin/nft', 'nftables'],
    ['/bin/busybox', 'busybox-static'],
    ['/usr/bin/nsenter', 'util-linux'],
  ];
  const absent = tools.filter(([file]) => !existsSync(file) && !existsSync(file.replace('/usr/sbin/', '/usr/bin/')));
  return absent.length > 0
    ? `missing Debian packages: ${absent.map(([, pkg]) => pkg).join(' ')} (npm start installs them)`
    : '';
}

/** A dev cluster on namespace hosts: every node with its own containerd, pulling from a registry. */
export async function upOnHosts(up: DevUp, nodes: number, managers: number, dnsUpstream?: string): Promise<void> {
  const { io, dir, state } = up;
  state.mode = 'hosts';
  if (existsSync(`/sys/class/net/${DEV_BRIDGE}`)) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${DEV_BRIDGE} exists already: a dev cluster is up (flotilla dev down removes it)`,
    );
  }
  const plans = Array.from({ length: nodes }, (_, i) => devHost(i + 1));
  // Recorded before they are made: `dev down` removes them even if what follows fails.
  state.hosts = plans.map((host) => devNode(dir, host));
  up.save();
  await createHostNetwork(devNetwork(plans));
  // Redis, the registry and the manager listen on the hosts' bridge, where the agents reach them.
  const redisArgs = up.planLogs({ host: DEV_GATEWAY, port: 6379 });
  await up.startRegistry(`${DEV_GATEWAY}:5000`);
  state.manager = `${DEV_GATEWAY}:4242`;
  io.err(`hosts ${plans.map((h) => `${h.name} ${h.address}`).join(', ')}; manager on ${state.manager}, waiting…\n`);
  await up.startManager('manager', state.manager, redisArgs);
  await up.startLogs('manager');
  const token = await up.joinToken(NodeSpec_Role.ROLE_WORKER);
  // Further managers join through the first with the manager token; agents learn every manager.
  for (let m = 2; m <= managers; m++) {
    const managerToken = await up.joinToken(NodeSpec_Role.ROLE_MANAGER);
    const join = { manager: state.manager, token: managerToken };
    await up.startManager(`manager-${m}`, `${DEV_GATEWAY}:${4241 + m}`, redisArgs, join);
  }
  state.image = await pushExampleImages(state.registry as string);
  up.save();
  for (const node of state.hosts) {
    node.agent.args = [
      process.execPath,
      self(),
      'agent',
      'start',
      ...hostAgentArgs({ stateDir: node.agent.stateDir, containerd: node.containerd, registry: `${state.registry}` }),
      ...(dnsUpstream ? ['--dns-upstream', dnsUpstream] : []),
    ];
    // The first start joins; restarts (restore-node) use the credentials in the state directory.
    await startNode(up, node, ['--join', state.manager, '--token', token, '--hostname', node.host.name]);
  }
  await up.nodesReady(nodes);
  io.out(
    `the dev cluster is up: ${managers} manager${managers > 1 ? 's' : ''}, ${nodes} nodes, each a network-namespace host (${plans.map((h) => h.address).join(', ')}) ` +
      `with its own containerd, pulling from the registry at ${state.registry}. Logs: ${dir}\n` +
      `Try: FLOTILLA_REGISTRY=${state.registry} FLOTILLA_INSECURE_REGISTRY=${state.registry} ` +
      'flotilla stack deploy -c examples/web/stack.yml web · ' +
      `curl http://${plans[0]?.address}:8080/ · flotilla dev kill-node 1 · flotilla dev restore-node 1\n` +
      'Stop it: flotilla dev down\n',
  );
}

/** Where a dev node's containerd and agent keep their things, in the dev directory. */
function devNode(dir: string, host: HostPlan): DevNode {
  const base = path.join(dir, host.name);
  const containerd = path.join(base, 'containerd');
  return {
    host,
    containerd: {
      pid: 0,
      socket: path.join(containerd, 'containerd.sock'),
      namespace: `flotilla-dev-${host.name}`,
      dir: containerd,
      config: path.join(containerd, 'config.toml'),
    },
    agent: { pid: 0, stateDir: path.join(base, 'agent'), args: [] },
  };
}

/** Starts a node's containerd inside its host, waits for its socket, then its agent (with `more` arguments). */
export async function startNode(up: DevUp, node: DevNode, more: string[] = []): Promise<void> {
  const { prefix } = namespaceHost(node.host);
  const containerd = up.launcher((pid) => {
    node.containerd.pid = pid;
  });
  const { dir, namespace } = node.containerd;
  const binary = serverBinary('containerd');
  const name = `${node.host.name}-containerd`;
  await startContainerd({ dir, namespace, wrap: prefix, binary, name }, containerd).catch((err) => up.fail(err));
  const agent = up.launcher((pid) => {
    node.agent.pid = pid;
  });
  const [command, ...args] = [...prefix, ...node.agent.args, ...more];
  await agent({ name: `${node.host.name}-agent`, command: command as string, args });
}

/**
 * A host failure: its link cut, its agent killed, its containerd killed with its containers (their data stays
 * for `restoreNode`).
 */
export async function killNode(node: DevNode): Promise<void> {
  await namespaceHost(node.host).cut();
  signalPid(node.agent.pid, 'SIGKILL');
  await destroyContainerd({ ...node.containerd, pid: node.containerd.pid || undefined }, { keepDir: true });
}

/** The host back after `killNode`: its link, containerd and agent (which rejoins with its identity). */
export async function restoreNode(up: DevUp, node: DevNode): Promise<void> {
  await namespaceHost(node.host).restore();
  await startNode(up, node);
}

/**
 * Ends the nodes' agents, then their containerds with every container, then removes the tasks' namespaces and
 * the hosts with their bridge; what is gone already is skipped, so it is safe to run twice.
 */
export async function removeNodes(nodes: readonly DevNode[], stopServers: () => Promise<void>): Promise<void> {
  for (const n of nodes) await stopPid(n.agent.pid);
  const taskNamespaces = await taskNamespacesOf(nodes.map((n) => n.host));
  for (const n of nodes) await destroyContainerd({ ...n.containerd, pid: n.containerd.pid || undefined });
  await stopServers();
  for (const ns of taskNamespaces) await deleteNamespace(ns);
  await removeHostNetwork(devNetwork(nodes.map((n) => n.host)));
}
