import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  isValidObjectName,
  Network,
  type NetworkDetails,
  type NetworkSpec,
  newId,
  type Service,
} from '@flotilla/api';
import type { Store, Versioned } from '@flotilla/store';
import { LIMITS } from '../input-limits.js';
import { checkSubnets } from './deploy/network-subnets.js';
import { STACK_LABEL, serviceName } from './deploy/stack-changes.js';
import type { Handle } from './handler.js';

type NetworkHandlers = Pick<ControlServiceServer, 'createNetwork' | 'listNetworks' | 'getNetwork' | 'removeNetwork'>;

/** The one driver: a Flotilla network is a VXLAN segment across the nodes whose tasks join it. */
const OVERLAY = 'overlay';

/** Longer than any IPv4 CIDR or address, with room to spare. */
const MAX_ADDRESS = 64;

/**
 * Overlay networks outside stacks (`network create|ls|inspect|rm`): cluster objects with no stack, given their
 * VXLAN ID and subnet by the same allocator as a stack's networks, joined by a stack's services that name them
 * `external: true`. Listing and inspecting show every network (a stack's and the ingress network too); only one
 * made here is removed here.
 */
export function networkControl(store: Store, handle: Handle): NetworkHandlers {
  // Writes reach the leader (forward-writes): one at a time there, so two creates of a name (or of overlapping
  // subnets) make one, and a removal does not cross a create.
  let writing: Promise<unknown> = Promise.resolve();
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const done = writing.then(fn, fn);
    writing = done.catch(() => undefined);
    return done;
  };
  return {
    createNetwork: handle(async (request) => {
      const spec = checkCreate(request.spec);
      const name = spec.annotations?.name ?? '';
      return serialized(async () => {
        const [networks, allocations] = await Promise.all([store.list('networks'), store.list('allocations')]);
        const taken = networks.items.find((n) => networkName(n) === name);
        if (taken) {
          const owner = stackOf(taken.value);
          throw new FlotillaError(
            Code.AlreadyExists,
            `network ${name} exists${owner ? ` (stack ${owner})` : ''}: remove it first (flotilla network rm ${name}), or choose another name`,
          );
        }
        const held = allocations.items.filter((a) => a.id.startsWith('subnet~')).map((a) => heldSubnet(a.id));
        checkSubnets(name, spec, networks.items, held);
        const network = Network.fromPartial({ id: newId(), spec, createdAtMs: BigInt(Date.now()) });
        await store.create('networks', network.id, network);
        return { network: details(network, []) };
      });
    }),

    listNetworks: handle(async () => {
      const [networks, services] = await Promise.all([store.list('networks'), store.list('services')]);
      const sorted = [...networks.items].sort((a, b) => networkName(a).localeCompare(networkName(b)));
      return { networks: sorted.map((n) => details(n.value, usersOf(n.value, services.items))) };
    }),

    getNetwork: handle(async (request) => {
      const [networks, services] = await Promise.all([store.list('networks'), store.list('services')]);
      const found = resolve(networks.items, request.nameOrId);
      return { network: details(found.value, usersOf(found.value, services.items)) };
    }),

    removeNetwork: handle(async (request) =>
      serialized(async () => {
        // A deploy that takes the network up writes it in its transaction: the delete below then conflicts, and
        // the second reading names that deploy's services.
        for (let attempt = 0; ; attempt++) {
          const [networks, services] = await Promise.all([store.list('networks'), store.list('services')]);
          const found = resolve(networks.items, request.nameOrId);
          const name = networkName(found);
          refuseNotOurs(found.value, name);
          const users = usersOf(found.value, services.items);
          if (users.length > 0) {
            throw new FlotillaError(
              Code.FailedPrecondition,
              `network ${name} is in use by ${users.join(', ')}: remove ${
                users.length === 1 ? 'that service' : 'those services'
              } (or its stack) first, or deploy ${users.length === 1 ? 'it' : 'them'} without the network`,
            );
          }
          try {
            // Its subnet and VXLAN ID are released by the allocator once the last address on it is.
            await store.batch([{ op: 'delete', kind: 'networks', id: found.id, version: found.version }], {
              atomic: { what: `the removal of network ${name}` },
            });
            return {};
          } catch (err) {
            if (attempt >= 2 || !(err instanceof FlotillaError) || err.reason !== 'conflict') throw err;
          }
        }
      }),
    ),
  };
}

/** The spec a create stores, once it is one Flotilla can make; refused otherwise, saying what to change. */
function checkCreate(spec: NetworkSpec | undefined): NetworkSpec {
  if (!spec) throw new FlotillaError(Code.InvalidArgument, 'no network in the request');
  const name = spec.annotations?.name ?? '';
  if (!name) throw new FlotillaError(Code.InvalidArgument, 'a network needs a name');
  if (!isValidObjectName(name)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network name ${JSON.stringify(name.slice(0, 64))}: use letters, digits, '_', '.' and '-' (at most 63), starting with a letter or digit`,
    );
  }
  const driver = spec.driver || OVERLAY;
  if (driver !== OVERLAY) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: driver ${JSON.stringify(driver.slice(0, 64))} is not one Flotilla has: its networks are overlay networks across the cluster (--driver overlay)`,
    );
  }
  if (spec.external) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: external is a stack's word for a network made this way: leave it out`,
    );
  }
  if (spec.enableIpv6) throw new FlotillaError(Code.InvalidArgument, `network ${name}: the overlay is IPv4 only`);
  if (Object.keys(spec.driverOpts).length > 0) {
    throw new FlotillaError(Code.InvalidArgument, `network ${name}: the overlay driver takes no options`);
  }
  if (spec.ipam.length > 1) {
    throw new FlotillaError(Code.InvalidArgument, `network ${name}: one subnet per network (IPv4 only)`);
  }
  // Addresses are echoed in errors: one too long for any address is refused without being shown.
  if (spec.ipam.some((c) => c.subnet.length > MAX_ADDRESS || c.gateway.length > MAX_ADDRESS)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: a subnet or gateway is at most ${MAX_ADDRESS} characters (an IPv4 CIDR or address)`,
    );
  }
  if (spec.ipam.some((c) => c.ipRange)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: an IP range is not supported: tasks take addresses from the whole subnet`,
    );
  }
  const labels = Object.entries(spec.annotations?.labels ?? {});
  if (labels.length > LIMITS.labels) {
    throw new FlotillaError(Code.InvalidArgument, `network ${name}: at most ${LIMITS.labels} labels`);
  }
  for (const [key, value] of labels) {
    if (!key || key.length > LIMITS.labelKey || value.length > LIMITS.labelValue) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `network ${name}: a label key must be 1 to ${LIMITS.labelKey} characters, a value at most ${LIMITS.labelValue}`,
      );
    }
  }
  // That label marks a stack's own networks: `stack rm` would remove this one with the stack.
  if (spec.annotations?.labels[STACK_LABEL] !== undefined) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: the label ${STACK_LABEL} is set by stack deploy on a stack's own networks: use another`,
    );
  }
  return {
    ...spec,
    driver,
    annotations: { name, labels: spec.annotations?.labels ?? {} },
    ipam: spec.ipam.filter((c) => c.subnet || c.gateway),
  };
}

/** Only a network made by `network create`: a stack's goes with its stack, the ingress network with the cluster. */
function refuseNotOurs(network: Network, name: string): void {
  if (network.ingress) {
    throw new FlotillaError(Code.FailedPrecondition, `network ${name} is the routing mesh's: it cannot be removed`);
  }
  const owner = stackOf(network);
  if (owner) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `network ${name} belongs to stack ${owner}: it is removed with the stack (flotilla stack rm ${owner})`,
    );
  }
}

function networkName(n: { value: Network }): string {
  return n.value.spec?.annotations?.name || n.value.id;
}

function stackOf(network: Network): string {
  return network.spec?.annotations?.labels[STACK_LABEL] ?? '';
}

/** The services that join the network (by name, as a service's spec names it), sorted. */
function usersOf(network: Network, services: readonly Versioned<Service>[]): string[] {
  const name = networkName({ value: network });
  return services
    .filter((s) => s.value.spec?.networks.some((n) => n.target === name))
    .map((s) => serviceName(s.value))
    .sort();
}

function details(network: Network, usedBy: string[]): NetworkDetails {
  return { network, stack: stackOf(network), usedBy };
}

/** `subnet~10.0.9.0~24` → 10.0.9.0/24 (allocationKey.subnet). */
function heldSubnet(key: string): string {
  const [, base, bits] = key.split('~');
  return `${base}/${bits}`;
}

/** The network `nameOrId` names (an ID first); none: NotFound, pointing to `ls`. */
function resolve(networks: readonly Versioned<Network>[], nameOrId: string): Versioned<Network> {
  const found = networks.find((n) => n.id === nameOrId) ?? networks.find((n) => networkName(n) === nameOrId);
  if (!found) throw new FlotillaError(Code.NotFound, `no network ${nameOrId}: see flotilla network ls`);
  return found;
}
