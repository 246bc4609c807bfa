import { Code, FlotillaError, type Network, type NetworkSpec } from '@flotilla/api';
import { type Cidr, contains, overlaps, parseCidr, parseIp, size } from '@flotilla/overlay';
import type { Versioned } from '@flotilla/store';

/**
 * A network's explicit subnet (a stack's `ipam.config.subnet`, `network create --subnet`) must be one, and free:
 * refused when it is asked for rather than left waiting on the allocator. Free means clear of every network's
 * subnet, the one the allocator gave it or, not given yet, the one its spec names (else two networks asked for in
 * a row could both pass), and of `held` (subnets of removed networks whose addresses are not all released yet).
 */
export function checkSubnets(
  name: string,
  spec: NetworkSpec,
  existing: readonly Versioned<Network>[],
  held: readonly string[] = [],
): void {
  for (const config of spec.ipam) {
    if (!config.subnet) {
      if (config.gateway) {
        throw new FlotillaError(Code.InvalidArgument, `network ${name}: a gateway needs the subnet it is in`);
      }
      continue;
    }
    let subnet: Cidr;
    try {
      subnet = parseCidr(config.subnet);
    } catch (err) {
      throw new FlotillaError(Code.InvalidArgument, `network ${name}: ${(err as Error).message}`);
    }
    if (subnet.bits > 29) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `network ${name}: subnet ${config.subnet} is too small: use a /29 or larger`,
      );
    }
    for (const other of existing) {
      const theirs = other.value.subnet || other.value.spec?.ipam.find((c) => c.subnet)?.subnet;
      if (theirs && overlapsText(theirs, subnet)) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `network ${name}: subnet ${config.subnet} overlaps ${theirs} of network ${other.value.spec?.annotations?.name}: choose another`,
        );
      }
    }
    const releasing = held.find((h) => overlapsText(h, subnet));
    if (releasing) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `network ${name}: subnet ${config.subnet} overlaps ${releasing} of a removed network whose tasks are still ending: wait for them, or choose another`,
      );
    }
    if (config.gateway) checkGateway(name, subnet, config.subnet, config.gateway);
  }
}

function checkGateway(name: string, subnet: Cidr, text: string, gateway: string): void {
  let ip: number;
  try {
    ip = parseIp(gateway);
  } catch (err) {
    throw new FlotillaError(Code.InvalidArgument, `network ${name}: ${(err as Error).message}`);
  }
  if (!contains(subnet, ip)) {
    throw new FlotillaError(Code.InvalidArgument, `network ${name}: gateway ${gateway} is not in ${text}`);
  }
  if (ip === subnet.base || ip === subnet.base + size(subnet) - 1) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `network ${name}: gateway ${gateway} is the network or broadcast address of ${text}: choose a host address`,
    );
  }
}

/** A stored subnet that does not parse overlaps nothing here: the allocator reports it on its network. */
function overlapsText(cidr: string, subnet: Cidr): boolean {
  try {
    return overlaps(parseCidr(cidr), subnet);
  } catch {
    return false;
  }
}
