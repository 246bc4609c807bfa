/**
 * Where the allocator takes values from. Networks get their subnets from one cluster pool: the ingress network a
 * /20 (every node and every task with a published port has an address on it), every other network a /24 unless
 * its stack file names a subnet. Each network's subnet is one L2 segment across all nodes (VXLAN), so a task
 * keeps no per-node block and any free address of the network can go to a task on any node.
 */
export interface Pools {
  /** Subnets of networks are carved from this (CIDR). */
  networks: string;
  /** Prefix length of a network's subnet when the stack file gives none. */
  networkBits: number;
  /** Prefix length of the ingress network's subnet. */
  ingressBits: number;
  /** Services' virtual IPs (CIDR). */
  virtualIps: string;
  /** VXLAN network identifiers: [first, last]. */
  vni: [number, number];
  /** Ports given to a port published without a number: [first, last]. */
  ports: [number, number];
}

export const DEFAULT_POOLS: Pools = {
  networks: '10.42.0.0/16',
  networkBits: 24,
  ingressBits: 20,
  virtualIps: '10.43.0.0/16',
  vni: [4096, 16_777_215],
  ports: [30_000, 32_767],
};

/** The name of the routing-mesh network. */
export const INGRESS_NETWORK = 'ingress';
