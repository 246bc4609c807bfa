import ipaddr from 'ipaddr.js';

/** An IPv4 prefix as numbers: the first address (network order, unsigned) and the prefix length. */
export interface Cidr {
  base: number;
  bits: number;
}

/** Parses a dotted IPv4 address; throws a readable error for anything else. */
export function parseIp(text: string): number {
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw new Error(`"${text}" is not an IPv4 address (like 10.42.0.5)`);
  return ipaddr.IPv4.parse(text)
    .toByteArray()
    .reduce((n, byte) => n * 256 + byte, 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv4 CIDR whose address is the network's first one (10.42.1.0/24, not 10.42.1.7/24). */
export function parseCidr(text: string): Cidr {
  const [address, bitsText, ...rest] = text.split('/');
  const bits = Number(bitsText);
  if (rest.length > 0 || !address || !/^\d+$/.test(bitsText ?? '') || bits < 0 || bits > 32) {
    throw new Error(`"${text}" is not an IPv4 subnet (like 10.42.1.0/24)`);
  }
  const base = parseIp(address);
  if (base % size({ base: 0, bits }) !== 0) {
    throw new Error(
      `"${text}" has host bits set: the subnet starts at ${formatIp(base - (base % size({ base: 0, bits })))}`,
    );
  }
  return { base, bits };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.bits}`;
}

/** How many addresses the prefix holds. */
export function size(c: Cidr): number {
  return 2 ** (32 - c.bits);
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** An address with its network's prefix length: 10.42.1.7/24. */
export function withPrefix(ip: number, c: Cidr): string {
  return `${formatIp(ip)}/${c.bits}`;
}

/** The address part of "10.42.1.7/24" (or of a bare address). */
export function addressOf(cidrAddress: string): string {
  return cidrAddress.split('/')[0] ?? '';
}
