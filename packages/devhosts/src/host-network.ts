import { errorMessage, ip, ipJson } from './command.js';
import { type HostPlan, type NamespaceHost, namespaceHost } from './namespace-host.js';

/**
 * A set of namespace hosts on one /24: an underlay bridge in the root namespace holding the gateway address
 * (where the managers, the registry and Redis listen), and per host a namespace whose eth0 is a veth on it.
 */
export interface HostNetwork {
  bridge: string;
  /** The bridge's address, e.g. 198.18.0.1; the /24 around it is the underlay. */
  gateway: string;
  /** MTU of the bridge and both ends of every veth; the kernel default (1500) when unset. */
  mtu?: number;
  hosts: readonly HostPlan[];
}

/**
 * Makes the bridge, then every host: its namespace with lo up, eth0 (a veth whose other end is a port of the
 * bridge) with the host's address, a default route via the gateway, and forwarding on (containers are routed
 * through the host). Needs root. On failure what was made stays: `removeHostNetwork` removes it.
 */
export async function createHostNetwork(network: HostNetwork): Promise<NamespaceHost[]> {
  const { bridge, gateway } = network;
  const mtuArgs = network.mtu === undefined ? [] : ['mtu', String(network.mtu)];
  const hosts = network.hosts.map(namespaceHost);
  await ip(['link', 'add', 'name', bridge, ...mtuArgs, 'type', 'bridge']);
  await ip(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
  await ip(['link', 'set', bridge, 'up']);
  const made = await Promise.allSettled(
    hosts.map(async (host) => {
      const ns = host.netns;
      await ip(['netns', 'add', ns]);
      // The peer is made inside the namespace, already named eth0.
      const peer = ['peer', 'name', 'eth0', ...mtuArgs, 'netns', ns];
      await ip(['link', 'add', 'name', host.veth, ...mtuArgs, 'type', 'veth', ...peer]);
      await ip(['link', 'set', host.veth, 'master', bridge, 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns, 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0']);
      // Forwarding on in the host's namespace only.
      await host.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    }),
  );
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return hosts;
}

/** Deletes the veths (each takes its peer with it), the namespaces, then the bridge; skips what is gone. */
export async function removeHostNetwork(network: HostNetwork): Promise<void> {
  const links = new Set((await ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname));
  for (const host of network.hosts) if (links.has(host.veth)) await deleteLink(host.veth);
  const namespaces = new Set(await listNamespaces());
  for (const host of network.hosts) if (namespaces.has(host.netns)) await deleteNamespace(host.netns);
  if (links.has(network.bridge)) await deleteLink(network.bridge);
}

/** `ip link del`, done already if the link is gone (a veth goes with its peer's namespace). */
export async function deleteLink(name: string): Promise<void> {
  try {
    await ip(['link', 'del', name]);
  } catch (err) {
    // Gone meanwhile: that is what we wanted.
    if (!/Cannot find device|No such device/.test(errorMessage(err))) throw err;
  }
}

/** `ip netns del`, done already if the namespace is gone. */
export async function deleteNamespace(name: string): Promise<void> {
  try {
    await ip(['netns', 'del', name]);
  } catch (err) {
    // Gone meanwhile: that is what we wanted.
    if (!/No such file or directory/.test(errorMessage(err))) throw err;
  }
}

/** The named network namespaces (/run/netns). */
export async function listNamespaces(): Promise<string[]> {
  return (await ipJson<{ name: string }>(['netns', 'list'])).map((n) => n.name);
}
