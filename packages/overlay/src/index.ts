export { type DnsLogger, type DnsLookup, DnsServer, type DnsServerOptions, type DnsServerStats } from './dns-server.js';
export { DnsTable } from './dns-table.js';
export type { Cidr } from './ipv4.js';
export { addressOf, contains, formatCidr, formatIp, overlaps, parseCidr, parseIp, size, withPrefix } from './ipv4.js';
export { macOf, names } from './names.js';
export type { NodeNetworkLogger, NodeNetworkOptions, TaskAttachment } from './node-network.js';
export { NodeNetwork } from './node-network.js';
export { containerRuleset, hostRuleset, protocolName } from './rulesets.js';
