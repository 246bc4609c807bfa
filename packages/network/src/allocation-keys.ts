/**
 * Keys of allocated values (the `allocations` kind): one key per value, so creating it only if absent is the
 * compare-and-swap that keeps a value from being given twice.
 */
export const allocationKey = {
  vni: (vni: number) => `vni~${vni}`,
  subnet: (cidr: string) => `subnet~${cidr.replace('/', '~')}`,
  address: (networkId: string, address: string) => `ip~${networkId}~${address}`,
  virtualIp: (address: string) => `vip~${address}`,
  port: (protocol: string, port: number) => `port~${protocol}~${port}`,
};

export type OwnerKind = 'networks' | 'services' | 'tasks' | 'nodes';

export function ownerOf(kind: OwnerKind, id: string): string {
  return `${kind}/${id}`;
}

export function parseOwner(owner: string): { kind: string; id: string } {
  const at = owner.indexOf('/');
  return { kind: owner.slice(0, at), id: owner.slice(at + 1) };
}
