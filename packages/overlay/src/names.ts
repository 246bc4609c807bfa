import { addressOf, parseIp } from './ipv4.js';

/**
 * Names of what the driver makes on a node. Interface names stay within Linux's 15 characters; task IDs are
 * unique across the cluster, so several agents on one machine (namespace hosts) never pick the same name.
 */
export const names = {
  bridge: (vni: number) => `fb-${vni}`,
  vxlan: (vni: number) => `fx-${vni}`,
  /** The host end of a task's veth into its i-th network. */
  veth: (taskId: string, index: number) => `fv${taskId.slice(0, 10)}${index}`,
  /** The task's own end, inside its namespace. */
  containerInterface: (index: number) => `eth${index}`,
  /** The task's network namespace, under /run/netns. */
  netns: (taskId: string) => `flt-${taskId}`,
};

export const BRIDGE_PREFIX = 'fb-';
export const VXLAN_PREFIX = 'fx-';
export const NETNS_PREFIX = 'flt-';
/** VXLAN's IANA port. */
export const VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;

/**
 * The MAC address of an overlay address: 02:42 (locally administered) and the four bytes of the IPv4 address.
 * Every node derives a peer's MAC from its address alone, so no MAC travels through the control plane.
 */
export function macOf(address: string): string {
  const ip = parseIp(addressOf(address));
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
