import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The dev cluster's hosts: one network namespace per node, joined by a bridge in this machine's own namespace,
 * on 198.19.0.0/24 (in the range reserved for benchmarking networks, so it meets no real network). The bridge
 * holds .1, where the manager, the registry and Redis listen; node i is .1i.
 */
export interface DevHost {
  name: string;
  /** The namespace, under /run/netns. */
  netns: string;
  address: string;
  /** The host end of its link, in this machine's namespace. */
  veth: string;
}

export const DEV_SUBNET_PREFIX = '198.19.0';
export const DEV_GATEWAY = `${DEV_SUBNET_PREFIX}.1`;
export const DEV_BRIDGE = 'fltdev0';

function ip(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, (err, stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function devHost(i: number): DevHost {
  return {
    name: `dev-node-${i}`,
    netns: `fltdev-h${i}`,
    address: `${DEV_SUBNET_PREFIX}.${10 + i}`,
    veth: `fltdev-v${i}`,
  };
}

/** The argv prefix that runs a command inside a host's namespace (same mount namespace as ours). */
export function inHost(host: DevHost): string[] {
  return ['nsenter', `--net=/run/netns/${host.netns}`, '--'];
}

/** Makes the bridge and `count` hosts; refuses if the bridge is there already (a dev cluster is up). */
export async function createDevHosts(count: number): Promise<DevHost[]> {
  if (existsSync(`/sys/class/net/${DEV_BRIDGE}`)) {
    throw new Error(`${DEV_BRIDGE} exists already: a dev cluster is up (flotilla dev down removes it)`);
  }
  await ip(['link', 'add', DEV_BRIDGE, 'type', 'bridge']);
  await ip(['addr', 'add', `${DEV_GATEWAY}/24`, 'dev', DEV_BRIDGE]);
  await ip(['link', 'set', DEV_BRIDGE, 'up']);
  const hosts: DevHost[] = [];
  for (let i = 1; i <= count; i++) {
    const host = devHost(i);
    await ip(['netns', 'add', host.netns]);
    await ip(['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns]);
    await ip(['link', 'set', host.veth, 'master', DEV_BRIDGE, 'up']);
    await ip(['-n', host.netns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await ip(['-n', host.netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', host.netns, 'route', 'add', 'default', 'via', DEV_GATEWAY]);
    hosts.push(host);
  }
  return hosts;
}

/** Cuts a host off the others (its link goes down), as a failed host or a pulled cable would. */
export function cutDevHost(host: DevHost): Promise<string> {
  return ip(['link', 'set', host.veth, 'down']);
}

export function restoreDevHost(host: DevHost): Promise<string> {
  return ip(['link', 'set', host.veth, 'up']);
}

/**
 * Removes the hosts, the task namespaces their agents made (`tasks`: flt-<task id> under /run/netns) and the
 * bridge; what is already gone is skipped, so it is safe to run twice.
 */
export async function removeDevHosts(hosts: readonly DevHost[], taskNamespaces: readonly string[]): Promise<void> {
  for (const ns of taskNamespaces) await ip(['netns', 'del', ns]).catch(() => undefined);
  for (const host of hosts) {
    await ip(['netns', 'del', host.netns]).catch(() => undefined);
    await ip(['link', 'del', host.veth]).catch(() => undefined);
  }
  await ip(['link', 'del', DEV_BRIDGE]).catch(() => undefined);
}
