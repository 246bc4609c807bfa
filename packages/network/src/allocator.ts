import {
  type Allocation,
  EndpointSpec_Mode,
  type Network,
  type Node,
  type PortConfig,
  PortConfig_PublishMode,
  type Service,
  type Task,
  type TaskNetwork,
  TaskState,
  taskEnded,
} from '@flotilla/api';
import {
  addressOf,
  type Cidr,
  contains,
  formatCidr,
  formatIp,
  overlaps,
  parseCidr,
  parseIp,
  protocolName,
  size,
  withPrefix,
} from '@flotilla/overlay';
import type { Versioned, Write } from '@flotilla/store';
import { allocationKey, type OwnerKind, ownerOf, parseOwner } from './allocation-keys.js';
import { DEFAULT_POOLS, INGRESS_NETWORK, type Pools } from './pools.js';

/** What the allocator reads: every object that holds or needs an allocated value. */
export interface AllocatorState {
  networks: readonly Versioned<Network>[];
  services: readonly Versioned<Service>[];
  tasks: readonly Versioned<Task>[];
  nodes: readonly Versioned<Node>[];
  allocations: readonly Versioned<Allocation>[];
}

export interface AllocatorPlan {
  writes: Write[];
  /** Things the allocator could not do, for the leader's log (a task waiting for its network, a port taken). */
  problems: string[];
}

export interface PlanOptions {
  now: bigint;
  newId: () => string;
  pools?: Pools;
  /**
   * Where each pool's last search ended: the next search starts after it, so an address just released is not
   * handed out again at once (peers may still have it in their tables). Kept by the caller across plans.
   */
  cursors?: Map<string, number>;
}

/** The ingress-published ports of a service spec (published by number or to be given one). */
export function ingressPorts(s: Service): PortConfig[] {
  return (s.spec?.endpoint?.ports ?? []).filter((p) => p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST);
}

/** Whether tasks of this service join networks at all (`network_mode: host` joins none). */
function usesOverlay(s: Service): boolean {
  return !s.spec?.container?.hostNetwork;
}

/**
 * One pass of the allocator, pure: from the objects in the store, the writes that give every network a VXLAN ID
 * and a subnet, every service a virtual IP and its published ports, every node an ingress address, every new task
 * an address on each of its networks (and moves it on to pending, for the scheduler), and that release what no
 * object holds any more. Every value is written as an `allocations` key created only if absent, in the same
 * batch as the object that takes it; a value that lost its holder (ended task, removed service) is deleted.
 */
export function planAllocations(state: AllocatorState, options: PlanOptions): AllocatorPlan {
  const pools = options.pools ?? DEFAULT_POOLS;
  const cursors = options.cursors ?? new Map<string, number>();
  const used = new Map<string, Versioned<Allocation>>(state.allocations.map((a) => [a.id, a]));
  const writes: Write[] = [];
  const problems: string[] = [];
  const claim = (key: string, kind: OwnerKind, id: string) => {
    const value: Allocation = { owner: ownerOf(kind, id), allocatedAtMs: options.now };
    used.set(key, { id: key, value, version: 0n });
    writes.push({ op: 'create', kind: 'allocations', id: key, value });
  };

  // The ingress network exists once per cluster; it is given its values on the next pass like any network.
  const networks = state.networks.map((n) => ({ ...n }));
  if (!networks.some((n) => n.value.ingress)) {
    // A fixed ID: its create is a compare-and-swap, so a retry on a lagging cache cannot make a second one.
    const id = INGRESS_NETWORK;
    const ingress: Network = {
      id,
      spec: {
        annotations: { name: INGRESS_NETWORK, labels: {} },
        driver: 'overlay',
        driverOpts: {},
        internal: false,
        attachable: false,
        enableIpv6: false,
        external: false,
        ipam: [],
      },
      vni: 0,
      subnet: '',
      gateway: '',
      createdAtMs: options.now,
      ingress: true,
      error: '',
    };
    // Made and given its values in this pass, before any other network takes a subnet.
    networks.unshift({ id, value: ingress, version: 0n });
  }

  // Networks: a VXLAN ID and a subnet each.
  // Taken: every network's subnet, and those of removed networks whose addresses are not all released yet.
  const subnets: Cidr[] = state.allocations
    .filter((a) => a.id.startsWith('subnet~'))
    .map((a) => {
      const [, base, bits] = a.id.split('~');
      return { base: parseIp(base ?? ''), bits: Number(bits) };
    });
  for (const n of networks) {
    if (n.value.subnet && n.value.vni) continue;
    const result = networkValues(n.value, subnets, used, pools);
    if (typeof result === 'string') {
      problems.push(`network ${n.value.spec?.annotations?.name}: ${result}`);
      if (n.value.error !== result && n.version !== 0n) {
        writes.push({
          op: 'update',
          kind: 'networks',
          id: n.id,
          value: { ...n.value, error: result },
          version: n.version,
        });
      }
      continue;
    }
    subnets.push(result.subnet);
    claim(allocationKey.vni(result.vni), 'networks', n.id);
    claim(allocationKey.subnet(formatCidr(result.subnet)), 'networks', n.id);
    const value: Network = {
      ...n.value,
      vni: result.vni,
      subnet: formatCidr(result.subnet),
      gateway: formatIp(result.gateway),
      error: '',
    };
    writes.push(
      n.version === 0n
        ? { op: 'create', kind: 'networks', id: n.id, value }
        : { op: 'update', kind: 'networks', id: n.id, value, version: n.version },
    );
    n.value = value;
  }
  const ready = new Map<string, Network>();
  for (const n of networks) {
    if (n.value.subnet && n.value.vni && !n.value.ingress) ready.set(n.value.spec?.annotations?.name ?? n.id, n.value);
  }
  const ingress = networks.find((n) => n.value.ingress && n.value.subnet)?.value;

  const nextAddress = (network: Network): number | undefined => {
    const subnet = parseCidr(network.subnet);
    const reserved = new Set([subnet.base, subnet.base + size(subnet) - 1, parseIp(network.gateway)]);
    return pick(subnet.base, subnet.base + size(subnet) - 1, cursors, `ip~${network.id}`, (ip) =>
      reserved.has(ip) ? false : !used.has(allocationKey.address(network.id, formatIp(ip))),
    );
  };

  // Services: a virtual IP (vip mode, on a network) and a number for each published port.
  const services = new Map<string, Service>();
  for (const s of state.services) {
    const next: Service = { ...s.value };
    let changed = false;
    const wantsVip =
      usesOverlay(s.value) &&
      (s.value.spec?.networks.length ?? 0) > 0 &&
      s.value.spec?.endpoint?.mode !== EndpointSpec_Mode.MODE_DNSRR;
    if (wantsVip && !s.value.virtualIp) {
      const pool = parseCidr(pools.virtualIps);
      const ip = pick(
        pool.base + 1,
        pool.base + size(pool) - 2,
        cursors,
        'vip',
        (n) => !used.has(allocationKey.virtualIp(formatIp(n))),
      );
      if (ip === undefined) problems.push(`service ${name(s.value)}: no virtual IP left in ${pools.virtualIps}`);
      else {
        claim(allocationKey.virtualIp(formatIp(ip)), 'services', s.id);
        next.virtualIp = formatIp(ip);
        changed = true;
      }
    } else if (!wantsVip && s.value.virtualIp) {
      next.virtualIp = '';
      changed = true;
    }
    const ports = publishedPorts(s, used, pools, cursors, claim, problems);
    if (JSON.stringify(ports) !== JSON.stringify(s.value.endpointPorts)) {
      next.endpointPorts = ports;
      changed = true;
    }
    if (changed) writes.push({ op: 'update', kind: 'services', id: s.id, value: next, version: s.version });
    services.set(s.id, next);
  }

  // Nodes: an address on the ingress network, which published ports answer from.
  if (ingress) {
    for (const n of state.nodes) {
      if (n.value.ingressAddress) continue;
      const ip = nextAddress(ingress);
      if (ip === undefined) {
        problems.push(`node ${n.id}: the ingress network ${ingress.subnet} is full`);
        continue;
      }
      claim(allocationKey.address(ingress.id, formatIp(ip)), 'nodes', n.id);
      const value: Node = { ...n.value, ingressAddress: withPrefix(ip, parseCidr(ingress.subnet)) };
      writes.push({ op: 'update', kind: 'nodes', id: n.id, value, version: n.version });
    }
  }

  // New tasks: an address on each of their networks, then on to the scheduler.
  for (const t of state.tasks) {
    if (t.value.status?.state !== TaskState.TASK_STATE_NEW || t.value.desiredState !== TaskState.TASK_STATE_RUNNING) {
      continue;
    }
    const service = services.get(t.value.serviceId);
    if (!service) continue;
    const result = taskNetworks(t.value, service, ready, ingress, nextAddress, claim, used);
    if (typeof result === 'string') {
      problems.push(`task ${t.id}: ${result}`);
      if (t.value.status?.message !== result) {
        const status = { ...t.value.status, message: result, timestampMs: options.now };
        writes.push({
          op: 'update',
          kind: 'tasks',
          id: t.id,
          value: { ...t.value, status, updatedAtMs: options.now } as Task,
          version: t.version,
        });
      }
      continue;
    }
    const value: Task = {
      ...t.value,
      networks: result,
      status: {
        state: TaskState.TASK_STATE_PENDING,
        timestampMs: options.now,
        message: 'addresses allocated',
        error: '',
        exitCode: 0,
      },
      updatedAtMs: options.now,
    };
    writes.push({ op: 'update', kind: 'tasks', id: t.id, value, version: t.version });
  }

  writes.push(...releases(state, used));
  return { writes, problems };
}

function name(s: Service): string {
  return s.spec?.annotations?.name ?? s.id;
}

/**
 * The lowest value in [first, last] that `free` accepts, searching from just after the pool's cursor and
 * wrapping around; moves the cursor to it.
 */
function pick(
  first: number,
  last: number,
  cursors: Map<string, number>,
  pool: string,
  free: (n: number) => boolean,
): number | undefined {
  const count = last - first + 1;
  if (count <= 0) return undefined;
  const start = cursors.get(pool);
  const offset = start !== undefined && start >= first && start <= last ? start - first + 1 : 0;
  for (let i = 0; i < count; i++) {
    const n = first + ((offset + i) % count);
    if (free(n)) {
      cursors.set(pool, n);
      return n;
    }
  }
  return undefined;
}

/** A network's VXLAN ID, subnet and gateway, or why it cannot have them. */
function networkValues(
  network: Network,
  taken: readonly Cidr[],
  used: Map<string, unknown>,
  pools: Pools,
): { vni: number; subnet: Cidr; gateway: number } | string {
  const explicit = network.spec?.ipam.find((c) => c.subnet);
  let subnet: Cidr | undefined;
  if (explicit) {
    try {
      subnet = parseCidr(explicit.subnet);
    } catch (err) {
      return (err as Error).message;
    }
    if (subnet.bits > 29) return `subnet ${explicit.subnet} is too small: use a /29 or larger`;
    const clash = taken.find((c) => overlaps(c, subnet as Cidr));
    if (clash) return `subnet ${explicit.subnet} overlaps ${formatCidr(clash)} of another network: choose another`;
  } else {
    const pool = parseCidr(pools.networks);
    const bits = network.ingress ? pools.ingressBits : pools.networkBits;
    const step = size({ base: 0, bits });
    for (let base = pool.base; base + step <= pool.base + size(pool); base += step) {
      const candidate = { base, bits };
      if (!taken.some((c) => overlaps(c, candidate))) {
        subnet = candidate;
        break;
      }
    }
    if (!subnet) return `no free /${bits} left in the network pool ${pools.networks}`;
  }
  let gateway = subnet.base + 1;
  if (explicit?.gateway) {
    try {
      gateway = parseIp(explicit.gateway);
    } catch (err) {
      return (err as Error).message;
    }
    if (!contains(subnet, gateway)) return `gateway ${explicit.gateway} is not in subnet ${explicit.subnet}`;
  }
  let vni: number | undefined;
  for (let v = pools.vni[0]; v <= pools.vni[1]; v++) {
    if (!used.has(allocationKey.vni(v))) {
      vni = v;
      break;
    }
  }
  if (vni === undefined) return 'no VXLAN ID left';
  return { vni, subnet, gateway };
}

/** A service's published ports with numbers: the ones it asked for, and one from the pool for the others. */
function publishedPorts(
  s: Versioned<Service>,
  used: Map<string, Versioned<Allocation>>,
  pools: Pools,
  cursors: Map<string, number>,
  claim: (key: string, kind: OwnerKind, id: string) => void,
  problems: string[],
): PortConfig[] {
  const out: PortConfig[] = [];
  const owner = ownerOf('services', s.id);
  const held = new Map(
    s.value.endpointPorts.map((p) => [`${protocolName(p.protocol)}/${p.targetPort}/${p.publishMode}`, p]),
  );
  for (const port of s.value.spec?.endpoint?.ports ?? []) {
    if (port.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST) {
      out.push(port);
      continue;
    }
    const protocol = protocolName(port.protocol);
    let number = port.publishedPort;
    if (number === 0) {
      const before = held.get(`${protocol}/${port.targetPort}/${port.publishMode}`);
      if (
        before?.publishedPort &&
        used.get(allocationKey.port(protocol, before.publishedPort))?.value.owner === owner
      ) {
        number = before.publishedPort;
      } else {
        number =
          pick(
            pools.ports[0],
            pools.ports[1],
            cursors,
            `port~${protocol}`,
            (n) => !used.has(allocationKey.port(protocol, n)),
          ) ?? 0;
        if (number === 0) {
          problems.push(`service ${name(s.value)}: no free port left in ${pools.ports.join('-')}`);
          continue;
        }
      }
    }
    const key = allocationKey.port(protocol, number);
    const holder = used.get(key);
    if (holder && holder.value.owner !== owner) {
      problems.push(
        `service ${name(s.value)}: port ${number}/${protocol} is already published by ${holder.value.owner}`,
      );
      continue;
    }
    if (!holder) claim(key, 'services', s.id);
    out.push({ ...port, publishedPort: number });
  }
  return out;
}

/** A new task's addresses, or why it must wait. */
function taskNetworks(
  task: Task,
  service: Service,
  ready: Map<string, Network>,
  ingress: Network | undefined,
  nextAddress: (n: Network) => number | undefined,
  claim: (key: string, kind: OwnerKind, id: string) => void,
  used: Map<string, unknown>,
): TaskNetwork[] | string {
  if (!usesOverlay(service)) return [];
  const wanted: { network: Network; aliases: string[]; address: string }[] = [];
  for (const attachment of service.spec?.networks ?? []) {
    const network = ready.get(attachment.target);
    if (!network) return `waiting for network ${attachment.target}`;
    wanted.push({ network, aliases: attachment.aliases, address: attachment.ipv4Address });
  }
  if (service.endpointPorts.some((p) => p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST)) {
    if (!ingress) return 'waiting for the ingress network';
    wanted.push({ network: ingress, aliases: [], address: '' });
  }
  const out: TaskNetwork[] = [];
  for (const w of wanted) {
    let ip: number | undefined;
    if (w.address) {
      let requested: number;
      try {
        requested = parseIp(w.address);
      } catch (err) {
        return `ipv4_address: ${(err as Error).message}`;
      }
      if (!contains(parseCidr(w.network.subnet), requested)) {
        return `ipv4_address ${w.address} is not in ${w.network.spec?.annotations?.name}'s subnet ${w.network.subnet}`;
      }
      if (used.has(allocationKey.address(w.network.id, w.address))) {
        return `ipv4_address ${w.address} is in use on ${w.network.spec?.annotations?.name}`;
      }
      ip = requested;
    } else ip = nextAddress(w.network);
    if (ip === undefined) return `network ${w.network.spec?.annotations?.name} (${w.network.subnet}) is full`;
    claim(allocationKey.address(w.network.id, formatIp(ip)), 'tasks', task.id);
    out.push({
      networkId: w.network.id,
      address: withPrefix(ip, parseCidr(w.network.subnet)),
      aliases: w.aliases,
    });
  }
  return out;
}

/** Deletes of allocations no object holds any more. */
function releases(state: AllocatorState, used: Map<string, Versioned<Allocation>>): Write[] {
  const networks = new Map(state.networks.map((n) => [n.id, n.value]));
  const services = new Map(state.services.map((s) => [s.id, s.value]));
  const tasks = new Map(state.tasks.map((t) => [t.id, t.value]));
  const nodes = new Map(state.nodes.map((n) => [n.id, n.value]));
  const addressesLeft = new Set<string>();
  for (const a of state.allocations) if (a.id.startsWith('ip~')) addressesLeft.add(a.id.split('~')[1] ?? '');
  const held = (key: string, owner: string): boolean => {
    const { kind, id } = parseOwner(owner);
    const [pool, first, second] = key.split('~');
    if (kind === 'networks') {
      const n = networks.get(id);
      // A removed network's subnet and VXLAN ID are free only once its last address is.
      if (!n) return addressesLeft.has(id);
      return pool === 'vni' ? String(n.vni) === first : pool === 'subnet' ? n.subnet === `${first}/${second}` : false;
    }
    if (kind === 'services') {
      const s = services.get(id);
      if (!s) return false;
      if (pool === 'vip') return s.virtualIp === first;
      return (
        pool === 'port' &&
        s.endpointPorts.some((p) => protocolName(p.protocol) === first && String(p.publishedPort) === second)
      );
    }
    if (kind === 'tasks') {
      const t = tasks.get(id);
      if (!t || taskEnded(t)) return false;
      return t.networks.some((n) => n.networkId === first && addressOf(n.address) === second);
    }
    if (kind === 'nodes') {
      const n = nodes.get(id);
      return !!n && pool === 'ip' && addressOf(n.ingressAddress) === second;
    }
    return false;
  };
  const out: Write[] = [];
  for (const a of state.allocations) {
    if (!used.has(a.id)) continue;
    if (!held(a.id, a.value.owner)) out.push({ op: 'delete', kind: 'allocations', id: a.id, version: a.version });
  }
  return out;
}
