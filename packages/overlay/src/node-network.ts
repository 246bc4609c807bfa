import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import type { NetworkView, OverlayNetwork, Task } from '@flotilla/api';
import { inNetns, ipJson, run } from './commands.js';
import { DnsServer } from './dns-server.js';
import { DnsTable } from './dns-table.js';
import { addressOf } from './ipv4.js';
import { BRIDGE_PREFIX, macOf, NETNS_PREFIX, names, VXLAN_OVERHEAD, VXLAN_PORT } from './names.js';
import { containerRuleset, hostRuleset } from './rulesets.js';

export interface NodeNetworkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface NodeNetworkOptions {
  nodeId: string;
  /** Resolvers for names that are not the cluster's ("ip" or "ip:port"); none: such names fail (SERVFAIL). */
  dnsUpstreams: string[];
  /** The DNS server's port on each network's gateway (default 53). */
  dnsPort?: number;
  /** How long attach() waits for the managers to send the task's networks (default 30 s). */
  networkWaitMs?: number;
  logger?: NodeNetworkLogger;
}

/** What a container needs from its networks: the namespace to join, and its resolver and hosts files. */
export interface TaskAttachment {
  /** Path of the task's network namespace (/run/netns/flt-<task>). */
  netns: string;
  /** resolv.conf content: the node's DNS server on the task's first network. */
  resolvConf?: string;
  /** Lines for /etc/hosts: the task's own addresses. */
  hostsLines: string[];
}

interface Programmed {
  local: string;
  mtu: number;
  address: string;
  /** MAC → underlay address of the node that has it. */
  fdb: Map<string, string>;
  /** Overlay address → MAC. */
  neigh: Map<string, string>;
}

const NETNS_DIR = '/run/netns';

/**
 * The overlay on one node, driven by the network views the managers send: per network a bridge (holding the
 * network's gateway, the same on every node) and a VXLAN device enslaved to it, with static forwarding and
 * neighbour entries for every task on other nodes (the VXLAN device answers ARP itself, so no broadcast crosses
 * the underlay); a network namespace per task with a veth into each of its networks; nftables rules for virtual
 * IPs (in each container's namespace), published ports and isolation (in the node's); and the DNS server on
 * each gateway. Every change is worked out against what is there, so applying a view twice, or after an agent
 * restart, changes nothing.
 */
export class NodeNetwork {
  private view: NetworkView | undefined;
  /** The newest view received, applied when the queue reaches it. */
  private latest: NetworkView | undefined;
  private warnedNoAddress = false;
  /** The overlay's MTU, worked out once per underlay address (not on every view or attachment). */
  private underlay: { address: string; mtu: number } | undefined;
  private readonly programmed = new Map<number, Programmed>();
  private readonly attached = new Set<string>();
  private readonly containerRules = new Map<string, string>();
  private hostRules = '';
  private readonly dns: DnsServer;
  private table: DnsTable | undefined;
  private readonly listening = new Set<string>();
  /** One change at a time: views and attachments touch the same devices and tables. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: NodeNetworkOptions) {
    this.dns = new DnsServer({
      upstreams: options.dnsUpstreams,
      port: options.dnsPort ?? 53,
      lookup: { lookup: (client, name) => this.table?.lookup(client, name) },
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Picks up what an earlier agent made on this node: tasks whose namespace and veth are still there. */
  async start(): Promise<void> {
    const links = new Set((await ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname));
    let entries: string[] = [];
    try {
      entries = readdirSync(NETNS_DIR);
    } catch {
      // no namespaces yet
    }
    for (const entry of entries) {
      if (!entry.startsWith(NETNS_PREFIX)) continue;
      const taskId = entry.slice(NETNS_PREFIX.length);
      if (links.has(names.veth(taskId, 0))) this.attached.add(taskId);
    }
  }

  /**
   * Applies a network view (serialized with attachments). Views that arrive while one is being applied are not
   * queued up one by one: only the latest is applied next.
   */
  apply(view: NetworkView): Promise<void> {
    this.latest = view;
    return this.serial(async () => {
      const next = this.latest;
      if (next && next !== this.view) await this.applyNow(next);
    });
  }

  /** Wires a task into its networks; undefined for a task that joins none. */
  async attach(task: Task): Promise<TaskAttachment | undefined> {
    if (task.networks.length === 0 || task.spec?.hostNetwork) return undefined;
    const wanted = new Set(task.networks.map((n) => n.networkId));
    const ready = () => [...wanted].every((id) => this.network(id) && this.programmedFor(id));
    const deadline = Date.now() + (this.options.networkWaitMs ?? 30_000);
    for (;;) {
      await this.waitFor(ready, Math.max(0, deadline - Date.now()));
      // Checked again in the queue: a view applied meanwhile may have taken a network away.
      const attached = await this.serial(async () => (ready() ? this.attachNow(task) : undefined));
      if (attached) return attached;
    }
  }

  /** Removes a task's namespace (its veths go with it); idempotent. */
  detach(taskId: string): Promise<void> {
    return this.serial(async () => {
      this.attached.delete(taskId);
      this.containerRules.delete(taskId);
      if (existsSync(`${NETNS_DIR}/${names.netns(taskId)}`)) {
        await run('ip', ['netns', 'del', names.netns(taskId)]).catch((err: Error) =>
          this.options.logger?.warn({ task: taskId, err: err.message }, 'network namespace not deleted'),
        );
      }
    });
  }

  /** Stops answering DNS; the devices and rules stay for the containers that keep running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters) wake();
    await this.dns.close();
  }

  /** Removes everything this driver made on the node (bridges, VXLAN devices, rules). */
  async teardown(): Promise<void> {
    await this.close();
    // Best effort, each step on its own: whatever is already gone is as good, and this node's networking is
    // being taken down entirely, so nothing waits on what is left.
    await this.serial(async () => {
      for (const taskId of [...this.attached]) {
        await run('ip', ['netns', 'del', names.netns(taskId)]).catch(() => undefined);
      }
      this.attached.clear();
      for (const link of await ipJson<{ ifname: string }>(['link', 'show'])) {
        if (link.ifname.startsWith(BRIDGE_PREFIX) || link.ifname.startsWith('fx-')) {
          await run('ip', ['link', 'del', link.ifname]).catch(() => undefined);
        }
      }
      await run('nft', ['delete', 'table', 'ip', 'flotilla']).catch(() => undefined);
      this.programmed.clear();
    });
  }

  dnsStats() {
    return this.dns.stats;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    // The caller gets the failure from `next`; the queue only has to go on.
    this.queue = next.catch(() => undefined);
    return next;
  }

  private network(id: string): OverlayNetwork | undefined {
    return this.view?.networks.find((n) => n.id === id);
  }

  private programmedFor(id: string): boolean {
    const n = this.network(id);
    return !!n && this.programmed.has(n.vni);
  }

  private waitFor(ready: () => boolean, limit = this.options.networkWaitMs ?? 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (ready()) return resolve();
      const check = () => {
        if (this.closed) finish(new Error('the node network driver stopped'));
        else if (ready()) finish();
      };
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(new Error(`the managers sent no network view with this task's networks within ${limit} ms`)),
        limit,
      );
      this.waiters.add(check);
    });
  }

  /**
   * The MTU of overlay devices for this underlay address: the underlay's less the VXLAN headers. Found once per
   * address, which is also when the node is made to forward (it routes between its bridges and the underlay).
   */
  private async overlayMtu(address: string): Promise<number> {
    if (this.underlay?.address !== address) {
      writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
      this.underlay = { address, mtu: (await underlayMtu(address)) - VXLAN_OVERHEAD };
    }
    return this.underlay.mtu;
  }

  private async applyNow(view: NetworkView): Promise<void> {
    if (this.closed) return;
    const started = performance.now();
    this.view = view;
    this.table = new DnsTable(view, this.options.nodeId);
    if (!view.nodeAddress) {
      // Without an underlay address there is nothing to tunnel from: said once, not on every view.
      if (!this.warnedNoAddress) {
        this.options.logger?.warn({}, 'the managers know no IPv4 address of this node: overlay networks wait for one');
      }
      this.warnedNoAddress = true;
      return;
    }
    this.warnedNoAddress = false;
    const mtu = await this.overlayMtu(view.nodeAddress);
    for (const n of view.networks) {
      try {
        await this.ensureNetwork(n, view, mtu);
      } catch (err) {
        this.options.logger?.warn({ network: n.name, err: (err as Error).message }, 'network not set up');
      }
    }
    await this.removeUnused(view);
    // One bad rule must not keep the containers' rules, DNS and waiting tasks from the rest of the view.
    await this.applyHostRules(view).catch((err) =>
      this.options.logger?.warn({ err: (err as Error).message }, 'node rules not applied'),
    );
    for (const taskId of this.attached) await this.applyContainerRules(taskId);
    await this.syncDns(view);
    for (const wake of [...this.waiters]) wake();
    this.options.logger?.debug?.(
      { networks: view.networks.length, endpoints: view.endpoints.length, ms: performance.now() - started },
      'network view applied',
    );
  }

  /** The bridge and VXLAN device of one network, and its forwarding and neighbour entries. */
  private async ensureNetwork(n: OverlayNetwork, view: NetworkView, mtu: number): Promise<void> {
    const bridge = names.bridge(n.vni);
    const vxlan = names.vxlan(n.vni);
    const prefix = n.subnet.split('/')[1];
    const address = n.ingress ? view.ingressAddress : `${n.gateway}/${prefix}`;
    let state = this.programmed.get(n.vni);
    if (!state || state.local !== view.nodeAddress || state.mtu !== mtu || state.address !== address) {
      const links = new Map(
        (await ipJson<{ ifname: string; mtu: number }>(['link', 'show'])).map((l) => [l.ifname, l]),
      );
      // No IPv6 link-local address on the bridge: the overlay is IPv4 and would only flood its chatter.
      if (!links.has(bridge)) {
        await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
        // A kernel without addrgenmode gives the bridge a link-local address: chatter, not harm.
        await run('ip', ['link', 'set', 'dev', bridge, 'addrgenmode', 'none']).catch(() => undefined);
      }
      await run('ip', ['link', 'set', bridge, 'mtu', String(mtu), 'up']);
      if (address) {
        // Only this network's address on its bridge.
        await run('ip', ['addr', 'flush', 'dev', bridge]);
        await run('ip', ['addr', 'add', address, 'dev', bridge]);
      }
      const local = await vxlanLocal(vxlan);
      if (local !== undefined && local !== view.nodeAddress) await run('ip', ['link', 'del', vxlan]);
      if (local === undefined || local !== view.nodeAddress) {
        await run('ip', [
          'link',
          'add',
          vxlan,
          'type',
          'vxlan',
          'id',
          String(n.vni),
          'local',
          view.nodeAddress,
          'dstport',
          String(VXLAN_PORT),
          'nolearning',
          'proxy',
        ]);
      }
      await run('ip', ['link', 'set', vxlan, 'master', bridge, 'mtu', String(mtu), 'up']);
      // Multicast the bridge itself sends (IGMP, say) has nowhere to go across hosts; broadcast must still reach
      // the VXLAN port, which answers ARP from its neighbour entries. Where that cannot be set, it floods: it works.
      await run('bridge', ['link', 'set', 'dev', vxlan, 'mcast_flood', 'off']).catch(() => undefined);
      state = { local: view.nodeAddress, mtu, address, fdb: await currentFdb(vxlan), neigh: await currentNeigh(vxlan) };
      this.programmed.set(n.vni, state);
    }
    await this.syncEntries(n, view, state);
  }

  /** Forwarding (MAC → node) and neighbour (address → MAC) entries for everything of this network elsewhere. */
  private async syncEntries(n: OverlayNetwork, view: NetworkView, state: Programmed): Promise<void> {
    const peers = new Map(view.peers.map((p) => [p.nodeId, p]));
    const wantNeigh = new Map<string, string>();
    const wantFdb = new Map<string, string>();
    const add = (address: string, node: string | undefined) => {
      if (!node) return;
      const ip = addressOf(address);
      wantNeigh.set(ip, macOf(ip));
      wantFdb.set(macOf(ip), node);
    };
    for (const e of view.endpoints) {
      if (e.networkId !== n.id || e.nodeId === this.options.nodeId) continue;
      add(e.address, peers.get(e.nodeId)?.address);
    }
    if (n.ingress) for (const p of view.peers) if (p.ingressAddress) add(p.ingressAddress, p.address);
    const vxlan = names.vxlan(n.vni);
    const bridgeCmds: string[] = [];
    const ipCmds: string[] = [];
    for (const [mac, node] of state.fdb) {
      if (wantFdb.get(mac) === node) continue;
      bridgeCmds.push(`fdb del ${mac} dev ${vxlan} self`, `fdb del ${mac} dev ${vxlan} master`);
    }
    for (const [ip, mac] of state.neigh) if (wantNeigh.get(ip) !== mac) ipCmds.push(`neigh del ${ip} dev ${vxlan}`);
    for (const [mac, node] of wantFdb) {
      if (state.fdb.get(mac) === node) continue;
      bridgeCmds.push(`fdb replace ${mac} dev ${vxlan} dst ${node} self permanent`);
      bridgeCmds.push(`fdb replace ${mac} dev ${vxlan} master static`);
    }
    for (const [ip, mac] of wantNeigh) {
      if (state.neigh.get(ip) !== mac) ipCmds.push(`neigh replace ${ip} lladdr ${mac} dev ${vxlan} nud permanent`);
    }
    // -force: one entry that was already gone must not stop the rest.
    const warn = (err: Error) =>
      this.options.logger?.warn({ network: n.name, err: err.message }, 'some overlay entries not programmed');
    if (bridgeCmds.length > 0) await run('bridge', ['-force', '-batch', '-'], `${bridgeCmds.join('\n')}\n`).catch(warn);
    if (ipCmds.length > 0) await run('ip', ['-force', '-batch', '-'], `${ipCmds.join('\n')}\n`).catch(warn);
    state.fdb = wantFdb;
    state.neigh = wantNeigh;
  }

  /** Bridges of networks this node no longer takes part in, once no task of it is left here. */
  private async removeUnused(view: NetworkView): Promise<void> {
    const wanted = new Set(view.networks.map((n) => names.bridge(n.vni)));
    const links = await ipJson<{ ifname: string; master?: string }>(['link', 'show']);
    for (const l of links) {
      if (!l.ifname.startsWith(BRIDGE_PREFIX) || wanted.has(l.ifname)) continue;
      const vni = Number(l.ifname.slice(BRIDGE_PREFIX.length));
      // The VXLAN device is enslaved too: a bridge with anything but it still serves a task.
      const ports = links.filter((x) => x.master === l.ifname && x.ifname !== names.vxlan(vni));
      if (ports.length > 0) continue;
      // Already gone is as good; a device that stays is found again, and deleted, with the next view.
      await run('ip', ['link', 'del', names.vxlan(vni)]).catch(() => undefined);
      await run('ip', ['link', 'del', l.ifname]).catch(() => undefined);
      this.programmed.delete(vni);
    }
  }

  private async applyHostRules(view: NetworkView): Promise<void> {
    const rules = hostRuleset(view, this.options.nodeId);
    if (rules === this.hostRules) return;
    await run('nft', ['-f', '-'], rules);
    this.hostRules = rules;
  }

  private async applyContainerRules(taskId: string): Promise<void> {
    if (!this.view) return;
    const rules = containerRuleset(this.view, taskId);
    if (this.containerRules.get(taskId) === rules) return;
    try {
      await inNetns(`${NETNS_DIR}/${names.netns(taskId)}`, 'nft', ['-f', '-'], rules);
      this.containerRules.set(taskId, rules);
    } catch (err) {
      this.options.logger?.warn({ task: taskId, err: (err as Error).message }, 'virtual IP rules not applied');
    }
  }

  private async syncDns(view: NetworkView): Promise<void> {
    const gateways = new Set(view.networks.filter((n) => !n.ingress).map((n) => n.gateway));
    for (const g of gateways) {
      if (this.listening.has(g)) continue;
      try {
        await this.dns.listen(g);
        this.listening.add(g);
      } catch (err) {
        this.options.logger?.warn({ address: g, err: (err as Error).message }, 'DNS server not listening');
      }
    }
    for (const g of [...this.listening]) {
      if (gateways.has(g)) continue;
      await this.dns
        .unlisten(g)
        .catch((err: Error) => this.options.logger?.warn({ address: g, err: err.message }, 'DNS server not closed'));
      this.listening.delete(g);
    }
  }

  private async attachNow(task: Task): Promise<TaskAttachment> {
    const view = this.view as NetworkView;
    const netns = names.netns(task.id);
    const path = `${NETNS_DIR}/${netns}`;
    // A namespace left by an attempt that failed half-way is made again from scratch (a delete that fails shows
    // as the add's failure, just below).
    if (existsSync(path)) await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await run('ip', ['netns', 'add', netns]);
    try {
      const mtu = await this.overlayMtu(view.nodeAddress);
      await inNetns(path, 'ip', ['link', 'set', 'lo', 'up']);
      const hostsLines: string[] = [];
      let route: { gateway: string; dev: string } | undefined;
      let first: { dev: string; gateway: string } | undefined;
      for (const [i, attachment] of task.networks.entries()) {
        const n = this.network(attachment.networkId) as OverlayNetwork;
        const veth = names.veth(task.id, i);
        const dev = names.containerInterface(i);
        // `ip link show` fails for a device that does not exist: none to delete.
        if ((await ipJson(['link', 'show', 'dev', veth]).catch(() => [])).length > 0) {
          await run('ip', ['link', 'del', veth]);
        }
        await run('ip', [
          'link',
          'add',
          veth,
          'mtu',
          String(mtu),
          'type',
          'veth',
          'peer',
          'name',
          dev,
          'mtu',
          String(mtu),
          'netns',
          netns,
        ]);
        await run('ip', ['link', 'set', veth, 'master', names.bridge(n.vni), 'up']);
        await inNetns(path, 'ip', ['link', 'set', dev, 'address', macOf(attachment.address), 'up']);
        await inNetns(path, 'ip', ['addr', 'add', attachment.address, 'dev', dev]);
        if (n.ingress) continue;
        hostsLines.push(`${addressOf(attachment.address)}\t${task.spec?.hostname || task.id.slice(0, 12)}`);
        first ??= { dev, gateway: n.gateway };
        if (!n.internal) route ??= { gateway: n.gateway, dev };
      }
      if (route) await inNetns(path, 'ip', ['route', 'add', 'default', 'via', route.gateway, 'dev', route.dev]);
      // Virtual IPs are translated inside the namespace before routing; without a default route they still
      // need a route to be sent at all.
      else if (first && view.virtualIpPool) {
        await inNetns(path, 'ip', ['route', 'add', view.virtualIpPool, 'dev', first.dev]);
      }
      this.attached.add(task.id);
      this.containerRules.delete(task.id);
      await this.applyContainerRules(task.id);
      return {
        netns: path,
        ...(first ? { resolvConf: `nameserver ${first.gateway}\noptions ndots:0\n` } : {}),
        hostsLines,
      };
    } catch (err) {
      // err is the failure to report; a namespace that stays is made again by the next attempt.
      await run('ip', ['netns', 'del', netns]).catch(() => undefined);
      throw err;
    }
  }
}

/** The MTU of the device that holds the node's underlay address (1500 when not found). */
async function underlayMtu(address: string): Promise<number> {
  // Unreadable is not found: 1500 is the usual underlay MTU.
  const links = await ipJson<{ mtu: number; addr_info?: { local: string }[] }>(['addr', 'show']).catch(() => []);
  return links.find((l) => l.addr_info?.some((a) => a.local === address))?.mtu ?? 1500;
}

/** The local address of an existing VXLAN device, or undefined when there is none. */
async function vxlanLocal(name: string): Promise<string | undefined> {
  // `ip link show` fails for a device that does not exist.
  const links = await ipJson<{ linkinfo?: { info_data?: { local?: string } } }>([
    '-details',
    'link',
    'show',
    'dev',
    name,
  ]).catch(() => undefined);
  if (!links || links.length === 0) return undefined;
  return links[0]?.linkinfo?.info_data?.local ?? '';
}

// Unreadable is empty (here and in currentNeigh): every entry is then programmed again, which `-force` makes harmless.
async function currentFdb(vxlan: string): Promise<Map<string, string>> {
  const entries = await run('bridge', ['-json', 'fdb', 'show', 'dev', vxlan])
    .then((out) => (out.trim() ? (JSON.parse(out) as { mac: string; dst?: string }[]) : []))
    .catch(() => []);
  return new Map(entries.filter((e) => e.dst).map((e) => [e.mac, e.dst as string]));
}

async function currentNeigh(vxlan: string): Promise<Map<string, string>> {
  const entries = await ipJson<{ dst: string; lladdr?: string }>(['neigh', 'show', 'dev', vxlan]).catch(() => []);
  return new Map(entries.filter((e) => e.lladdr).map((e) => [e.dst, e.lladdr as string]));
}
