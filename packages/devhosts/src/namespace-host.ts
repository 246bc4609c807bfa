import { type ExecOptions, ip, runCommand } from './command.js';

/**
 * Where a namespace host is: plain data, so `flotilla dev` can keep it in its state file and act on the host from
 * a later command.
 */
export interface HostPlan {
  /** e.g. "h1", "dev-node-1". */
  readonly name: string;
  /** The namespace name under /run/netns. */
  readonly netns: string;
  /** Underlay IPv4 address of the host's eth0, e.g. 198.18.0.11. */
  readonly address: string;
  /** The host-side veth in the root namespace (a port of the bridge), e.g. for `tc qdisc ... netem`. */
  readonly veth: string;
}

/**
 * A "host" made of a Linux network namespace on this machine, with eth0 on an underlay bridge in the root
 * namespace: what multi-host clusters (overlay networks, VXLAN between hosts, host failures) run on.
 */
export interface NamespaceHost extends HostPlan {
  /**
   * Runs a command inside the host's network namespace (`nsenter --net=/run/netns/X`, same mount namespace as
   * the caller, unlike `ip netns exec`) and returns its stdout; rejects with its stderr on a non-zero exit.
   */
  exec(cmd: string, args: string[], options?: ExecOptions): Promise<string>;
  /** argv prefix that starts a long-running process inside the host: `['nsenter', '--net=/run/netns/X', '--']`. */
  readonly prefix: readonly string[];
  /** Cuts the host's underlay link (a dead network, a pulled cable): sets its host-side veth down. */
  cut(): Promise<void>;
  /** Restores the underlay link cut by `cut()`. */
  restore(): Promise<void>;
}

/** The host a plan describes (made by `createHostNetwork`, or found again from a state file). */
export function namespaceHost(plan: HostPlan): NamespaceHost {
  const { name, netns, address, veth } = plan;
  const prefix = Object.freeze(['nsenter', `--net=/run/netns/${netns}`, '--']);
  return {
    name,
    netns,
    address,
    veth,
    prefix,
    exec: (cmd, args, options) => runCommand(prefix[0] as string, [...prefix.slice(1), cmd, ...args], options),
    async cut() {
      await ip(['link', 'set', veth, 'down']);
    },
    async restore() {
      await ip(['link', 'set', veth, 'up']);
    },
  };
}
