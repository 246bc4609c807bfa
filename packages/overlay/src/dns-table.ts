import { EndpointSpec_Mode, type NetworkView } from '@flotilla/api';
import { addressOf } from './ipv4.js';

interface NameEntry {
  serviceId: string;
  networkId: string;
  virtualIp: string;
}

/**
 * The names each local container may resolve, from one network view: on every network a service joins, its full
 * name (stack_service) and its aliases (the stack's short service name among them) give its virtual IP (endpoint
 * mode vip) or its ready task addresses (dnsrr), and `tasks.<name>` gives the ready task addresses. A container
 * sees only the names of its own networks, and only tasks that are ready (running, healthy, not told to stop).
 */
export class DnsTable {
  /** Local container address → the networks its task joins. */
  private readonly clients = new Map<string, Set<string>>();
  /** Network → lower-case name → services of that name. */
  private readonly names = new Map<string, Map<string, NameEntry[]>>();
  /** `${serviceId}/${networkId}` → ready addresses. */
  private readonly ready = new Map<string, string[]>();
  /** Local containers whose networks are all internal: no name of theirs leaves the cluster. */
  private readonly sealed = new Set<string>();

  constructor(view: NetworkView, nodeId: string) {
    const ingress = new Set(view.networks.filter((n) => n.ingress).map((n) => n.id));
    const taskNetworks = new Map<string, Set<string>>();
    for (const e of view.endpoints) {
      if (e.nodeId !== nodeId || ingress.has(e.networkId)) continue;
      const set = taskNetworks.get(e.taskId) ?? new Set<string>();
      set.add(e.networkId);
      taskNetworks.set(e.taskId, set);
    }
    const internal = new Set(view.networks.filter((n) => n.internal).map((n) => n.id));
    for (const e of view.endpoints) {
      if (ingress.has(e.networkId)) continue;
      if (e.nodeId === nodeId) {
        const networks = taskNetworks.get(e.taskId) ?? new Set<string>();
        this.clients.set(addressOf(e.address), networks);
        if (networks.size > 0 && [...networks].every((n) => internal.has(n))) this.sealed.add(addressOf(e.address));
      }
      if (!e.ready) continue;
      const key = `${e.serviceId}/${e.networkId}`;
      const list = this.ready.get(key);
      if (list) list.push(addressOf(e.address));
      else this.ready.set(key, [addressOf(e.address)]);
    }
    for (const s of view.services) {
      const vip = s.mode === EndpointSpec_Mode.MODE_DNSRR ? '' : s.virtualIp;
      for (const n of s.networks) {
        if (ingress.has(n.networkId)) continue;
        const byName = this.names.get(n.networkId) ?? new Map<string, NameEntry[]>();
        this.names.set(n.networkId, byName);
        for (const name of new Set([s.name, ...n.aliases].map((x) => x.toLowerCase()))) {
          const entry = { serviceId: s.serviceId, networkId: n.networkId, virtualIp: vip };
          const list = byName.get(name);
          if (list) list.push(entry);
          else byName.set(name, [entry]);
        }
      }
    }
  }

  /** Whether this address is a container of this node (the DNS server answers only those). */
  isClient(address: string): boolean {
    return this.clients.has(address);
  }

  /**
   * What `name` (lower case, no trailing dot) resolves to for the container at `client`: undefined when it is no
   * cluster name on the container's networks (to be forwarded), else the addresses (maybe none).
   */
  lookup(client: string, name: string): string[] | undefined {
    const networks = this.clients.get(client);
    if (!networks) return undefined;
    const tasks = name.startsWith('tasks.');
    const base = tasks ? name.slice('tasks.'.length) : name;
    let found = false;
    const out = new Set<string>();
    for (const networkId of networks) {
      for (const entry of this.names.get(networkId)?.get(base) ?? []) {
        found = true;
        if (!tasks && entry.virtualIp) out.add(entry.virtualIp);
        else for (const a of this.ready.get(`${entry.serviceId}/${entry.networkId}`) ?? []) out.add(a);
      }
    }
    if (found) return [...out];
    // A container only on internal networks gets no answer from outside either (empty, not forwarded).
    return this.sealed.has(client) ? [] : undefined;
  }
}
