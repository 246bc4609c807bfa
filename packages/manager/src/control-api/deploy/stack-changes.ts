import { isIPv4 } from 'node:net';
import {
  Code,
  checkReplicas,
  FlotillaError,
  isGlobalMode,
  isJobMode,
  isValidObjectName,
  Network,
  type PortConfig,
  PortConfig_PublishMode,
  qualify,
  Service,
  ServiceSpec,
  type StackSpec,
  UpdateConfig_Order,
} from '@flotilla/api';
import { newSpecVersion } from '@flotilla/orchestrator';
import { contains, parseCidr, parseIp, protocolName, size } from '@flotilla/overlay';
import { MAX_TXN_OPS, type Versioned, type Write } from '@flotilla/store';
import { checkSubnets } from './network-subnets.js';

/** What a deploy does to a service's running tasks. */
export type TaskChange = 'none' | 'kept' | 'scaled' | 'replaced';

/** What a deploy does to one service, and the write that does it. */
export interface ServiceDecision {
  name: string;
  /** The stored service's ID, or the new one's. */
  id: string;
  action: 'create' | 'update' | 'unchanged' | 'remove';
  tasks: TaskChange;
  /** The service as stored now (absent for a create). */
  current?: Versioned<Service>;
  /** The service as the deploy stores it (absent for unchanged and remove). */
  next?: Service;
  write?: Write;
}

/**
 * Decides what deploying `stack` over the `existing` services does, service by service, in the order the stack
 * declares them and then the services a prune removes. Pure: DeployStack writes these decisions in one
 * transaction and PlanStack only shows them, so the two cannot disagree. Refuses (FlotillaError) what the deploy
 * would refuse. `standalone`: the services of `service create`, in no stack (the stack's name is empty); they are
 * only created, never updated: a name already taken is refused.
 */
export function decideStack(
  existing: readonly Versioned<Service>[],
  stack: StackSpec,
  prune: boolean,
  make: { now: bigint; newId: () => string },
  standalone = false,
): ServiceDecision[] {
  if (standalone ? stack.name !== '' : !isValidObjectName(stack.name)) {
    throw new FlotillaError(Code.InvalidArgument, `invalid stack name "${stack.name}": use letters, digits, _ . -`);
  }
  checkPublishedPorts(existing, stack, prune);
  checkAddresses(stack);
  checkNetworkRoom(stack);
  const byName = new Map<string, Versioned<Service>>();
  for (const s of existing) byName.set(serviceName(s.value), s);
  const { now } = make;
  const decisions: ServiceDecision[] = [];
  const declared = new Set<string>();
  for (const spec of stack.services) {
    const name = spec.annotations?.name ?? '';
    if (standalone && (spec.stack !== '' || !isValidObjectName(name))) {
      throw new FlotillaError(Code.InvalidArgument, `invalid service name "${name}": use letters, digits, _ . -`);
    }
    if (!standalone && (!name.startsWith(`${stack.name}_`) || spec.stack !== stack.name || !isValidObjectName(name))) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `service "${name}" is not named for stack ${stack.name}: expected ${qualify(stack.name, 'SERVICE')}`,
      );
    }
    if (declared.has(name)) throw new FlotillaError(Code.InvalidArgument, `service ${name} is declared twice`);
    checkReplicas(spec.replicas, `service ${name}`);
    declared.add(name);
    const current = byName.get(name);
    if (!current) {
      const id = make.newId();
      const service = Service.fromPartial({ id, spec, specVersion: 1n, createdAtMs: now, updatedAtMs: now });
      decisions.push({
        name,
        id,
        action: 'create',
        tasks: 'none',
        next: service,
        write: { op: 'create', kind: 'services', id, value: service },
      });
      continue;
    }
    if (standalone) {
      throw new FlotillaError(
        Code.AlreadyExists,
        `a service named ${name} already exists: choose another name, or change it with flotilla service update ${name}`,
      );
    }
    if (current.value.spec?.stack !== stack.name) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `a service named ${name} already exists outside stack ${stack.name}: remove it or rename the stack`,
      );
    }
    const before = current.value.spec;
    const tasks = taskChange(before, spec);
    if (tasks === 'none') {
      decisions.push({ name, id: current.id, action: 'unchanged', tasks, current });
      continue;
    }
    const replaced = tasks === 'replaced';
    const service: Service = replaced
      ? newSpecVersion(current.value, spec, Number(now))
      : { ...current.value, spec, updatedAtMs: now };
    decisions.push({
      name,
      id: current.id,
      action: 'update',
      tasks,
      current,
      next: service,
      write: { op: 'update', kind: 'services', id: current.id, value: service, version: current.version },
    });
  }
  if (prune) {
    for (const [name, s] of byName) {
      if (s.value.spec?.stack === stack.name && !declared.has(name)) {
        decisions.push({
          name,
          id: s.id,
          action: 'remove',
          tasks: 'none',
          current: s,
          write: { op: 'delete', kind: 'services', id: s.id, version: s.version },
        });
      }
    }
  }
  // One transaction (the fence or leader compare takes one more slot).
  const writes = decisions.filter((d) => d.write).length;
  if (writes > MAX_TXN_OPS - 1) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `a stack deploys in one transaction of at most ${MAX_TXN_OPS - 1} services; this one changes ${writes}: split it into several stacks`,
    );
  }
  return decisions;
}

/**
 * What replacing spec `before` with `after` does to the tasks: nothing (same spec); nothing either when only what
 * the tasks do not run changes, the service's own labels and its update and rollback settings (`kept`: the spec is
 * written, no task is touched, as docker leaves them); scaling (the replica count differs as well: running tasks
 * are untouched); or replacing them (anything else: the spec version goes up).
 */
export function taskChange(before: ServiceSpec | undefined, after: ServiceSpec): TaskChange {
  if (canonical(before) === canonical(after)) return 'none';
  // A job's replicas are its parallelism and completions: any change is a new run of the job.
  if (isJobMode(after.mode) || canonical(tasksRun(before)) !== canonical(tasksRun(after))) return 'replaced';
  return before?.replicas === after.replicas ? 'kept' : 'scaled';
}

/** The part of a spec its tasks run: without the replica count, the service's labels, update and rollback settings. */
function tasksRun(s: ServiceSpec | undefined): ServiceSpec {
  const spec = ServiceSpec.fromPartial(s ?? {});
  return {
    ...spec,
    replicas: 0n,
    annotations: { name: spec.annotations?.name ?? '', labels: {} },
    updateConfig: undefined,
    rollbackConfig: undefined,
  };
}

/**
 * A spec as JSON with map keys in sorted order: labels or sysctls written in another order are the same spec and
 * must not replace every task.
 */
function canonical(s: ServiceSpec | undefined): string {
  return JSON.stringify(ServiceSpec.toJSON(ServiceSpec.fromPartial(s ?? {})), (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}

export function serviceName(s: Service): string {
  return s.spec?.annotations?.name ?? s.id;
}

/** The label that marks an object as made by a stack (as `docker stack deploy` marks it). */
export const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * The networks a deploy creates: each of the stack's own networks that does not exist yet (an existing one is
 * kept as it is: its subnet and VXLAN ID are in use). Refuses an external network that does not exist, and a
 * network name that belongs to another stack or was made by `network create` (that one is named external).
 * Each external network that a service the deploy writes joins (`joined`) is written back unchanged in the same
 * transaction: a `network rm` that saw no service using it then conflicts rather than lands, and a deploy that
 * comes after the removal conflicts and is decided again (now refused: the network does not exist).
 */
export function networkWrites(
  existing: readonly Versioned<Network>[],
  stack: StackSpec,
  make: { now: bigint; newId: () => string },
  joined: ReadonlySet<string> = new Set(),
): Write[] {
  const byName = new Map(existing.map((n) => [n.value.spec?.annotations?.name ?? n.id, n]));
  const writes: Write[] = [];
  for (const spec of stack.networks) {
    const name = spec.annotations?.name ?? '';
    const found = byName.get(name);
    const current = found?.value;
    if (spec.external) {
      if (!found) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `network ${name} is declared external but does not exist: create it first (flotilla network create ${name}) or drop "external: true"`,
        );
      }
      if (found.value.ingress) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `network ${name} is the routing mesh's: services join it by publishing ports, not by naming it`,
        );
      }
      if (joined.has(name)) {
        writes.push({ op: 'update', kind: 'networks', id: found.id, value: found.value, version: found.version });
      }
      continue;
    }
    if (current) {
      const owner = current.spec?.annotations?.labels[STACK_LABEL];
      if (current.ingress || (owner && owner !== stack.name)) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `a network named ${name} already exists${owner ? ` in stack ${owner}` : ''}: rename this stack's network`,
        );
      }
      if (!owner) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `a network named ${name} already exists outside any stack (flotilla network create): declare it "external: true" to join it, or rename this stack's network`,
        );
      }
      continue;
    }
    checkSubnets(name, spec, existing);
    const id = make.newId();
    const network = Network.fromPartial({ id, spec, createdAtMs: make.now });
    writes.push({ op: 'create', kind: 'networks', id, value: network });
  }
  return writes;
}

/**
 * Refuses a deploy that publishes (ingress) a port another service already publishes, or the same port twice
 * within the stack: every node answers an ingress port, so two services cannot share one.
 */
export function checkPublishedPorts(existing: readonly Versioned<Service>[], stack: StackSpec, prune: boolean): void {
  const taken = new Map<string, string>();
  const key = (p: PortConfig) => `${p.publishedPort}/${protocolName(p.protocol)}`;
  const ingress = (ports: readonly PortConfig[]) =>
    ports.filter((p) => p.publishedPort > 0 && p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST);
  const redeployed = new Set(stack.services.map((s) => s.annotations?.name ?? ''));
  for (const s of existing) {
    const name = serviceName(s.value);
    // Services of this stack are replaced by what it declares now (or removed by a prune).
    if (redeployed.has(name) || (prune && s.value.spec?.stack === stack.name)) continue;
    for (const p of ingress([...(s.value.spec?.endpoint?.ports ?? []), ...s.value.endpointPorts]))
      taken.set(key(p), name);
  }
  for (const spec of stack.services) {
    const name = spec.annotations?.name ?? '';
    for (const p of ingress(spec.endpoint?.ports ?? [])) {
      const holder = taken.get(key(p));
      if (holder && holder !== name) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `port ${key(p)} of ${name} is already published by service ${holder}: publish another port, or use mode: host`,
        );
      }
      taken.set(key(p), name);
    }
  }
}

/**
 * Addresses a stack names must be IPv4 addresses (the overlay is IPv4): a `host_ip` that nftables cannot take
 * would break every node's rules, and an `ipv4_address` only fits one task (so one replica, stopped before its
 * replacement starts) inside its network's explicit subnet, clear of the network and gateway addresses.
 */
export function checkAddresses(stack: StackSpec): void {
  const networks = new Map(stack.networks.map((n) => [n.annotations?.name ?? '', n]));
  for (const spec of stack.services) {
    const name = spec.annotations?.name ?? '';
    for (const port of spec.endpoint?.ports ?? []) {
      if (port.hostIp && !isIPv4(port.hostIp)) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `service ${name}: host_ip ${port.hostIp} is not an IPv4 address (the overlay publishes IPv4 only)`,
        );
      }
    }
    for (const attachment of spec.networks) {
      const address = attachment.ipv4Address;
      if (!address) continue;
      const where = `service ${name}: ipv4_address ${address} on ${attachment.target}`;
      if (!isIPv4(address)) throw new FlotillaError(Code.InvalidArgument, `${where} is not an IPv4 address`);
      const subnet = networks.get(attachment.target)?.ipam.find((c) => c.subnet);
      if (!subnet) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `${where} needs the network to name its subnet (ipam.config.subnet)`,
        );
      }
      const cidr = parseCidr(subnet.subnet);
      const ip = parseIp(address);
      const gateway = subnet.gateway ? parseIp(subnet.gateway) : cidr.base + 1;
      if (!contains(cidr, ip) || ip === cidr.base || ip === cidr.base + size(cidr) - 1 || ip === gateway) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `${where} is not a host address of ${subnet.subnet} (nor its gateway)`,
        );
      }
      if (isGlobalMode(spec.mode) || spec.replicas > 1n) {
        throw new FlotillaError(Code.InvalidArgument, `${where} fits one task: run one replica`);
      }
      if (spec.updateConfig?.order === UpdateConfig_Order.ORDER_START_FIRST) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `${where} fits one task: update with order: stop-first, so the old task frees it first`,
        );
      }
    }
  }
}

/** The prefix length a network gets from the cluster pool when its stack file names no subnet. */
const DEFAULT_NETWORK_BITS = 24;

/**
 * Refuses a stack whose replicated services need more addresses on one of its networks than the network holds
 * (its explicit subnet, or a /24): their tasks would wait for addresses forever. Global services count for
 * nothing here (their size is the cluster's), so this is a floor, not a promise.
 */
export function checkNetworkRoom(stack: StackSpec): void {
  for (const network of stack.networks) {
    if (network.external) continue;
    const name = network.annotations?.name ?? '';
    const explicit = network.ipam.find((c) => c.subnet)?.subnet;
    let bits = DEFAULT_NETWORK_BITS;
    if (explicit) {
      try {
        bits = parseCidr(explicit).bits;
      } catch {
        continue; // reported by the subnet checks
      }
    }
    // The network and broadcast addresses and the gateway are not for tasks.
    const room = 2 ** (32 - bits) - 3;
    let needed = 0n;
    for (const spec of stack.services) {
      if (isGlobalMode(spec.mode) || spec.container?.hostNetwork) continue;
      if (spec.networks.some((n) => n.target === name)) needed += spec.replicas;
    }
    if (needed > BigInt(room)) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `network ${name} holds ${room} tasks and this stack runs ${needed} on it: give it a larger subnet ` +
          '(networks: NAME: ipam: config: [{ subnet: 10.50.0.0/16 }])',
      );
    }
  }
}
