import { isIPv4 } from 'node:net';
import {
  EndpointSpec_Mode,
  type NetworkView,
  type PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  type TaskEndpoint,
} from '@flotilla/api';
import { addressOf } from './ipv4.js';
import { BRIDGE_PREFIX, names, VXLAN_PORT } from './names.js';

/** The nftables table the driver owns, in the node's namespace and in each container's. */
export const TABLE = 'flotilla';

const PROTOCOLS: Partial<Record<PortConfig_Protocol, string>> = {
  [PortConfig_Protocol.PROTOCOL_TCP]: 'tcp',
  [PortConfig_Protocol.PROTOCOL_UDP]: 'udp',
  [PortConfig_Protocol.PROTOCOL_SCTP]: 'sctp',
};

/** A port's protocol as nftables and the allocator's keys name it; unspecified is TCP. */
export function protocolName(p: PortConfig_Protocol): string {
  return PROTOCOLS[p] ?? 'tcp';
}

/**
 * A DNAT to one of `targets` (addresses), picked at random per connection; conntrack keeps each connection on
 * the target it got, so a target taken out of the list keeps its open connections (drain) and gets no new one.
 */
function dnatTo(targets: readonly string[], port?: number): string {
  const suffix = port === undefined ? '' : `:${port}`;
  if (targets.length === 1) return `dnat to ${targets[0]}${suffix}`;
  const map = targets.map((t, i) => `${i} : ${t}`).join(', ');
  return `dnat to numgen random mod ${targets.length} map { ${map} }${port === undefined ? '' : ` : ${port}`}`;
}

/** Replaces the whole table in one transaction: a reader never sees half a ruleset. */
function script(chains: string[]): string {
  return `table ip ${TABLE}\ndelete table ip ${TABLE}\ntable ip ${TABLE} {\n${chains.join('\n')}\n}\n`;
}

function chain(name: string, hook: string, rules: string[]): string {
  return `  chain ${name} {\n    ${hook}\n${rules.map((r) => `    ${r}\n`).join('')}  }`;
}

function readyAddresses(view: NetworkView, serviceId: string, networkId: string, nodeId?: string): string[] {
  return view.endpoints
    .filter(
      (e: TaskEndpoint) =>
        e.ready && e.serviceId === serviceId && e.networkId === networkId && (!nodeId || e.nodeId === nodeId),
    )
    .map((e) => addressOf(e.address));
}

/**
 * The node's own rules: published ports (ingress: on every node, to a ready task on any node, answered from
 * this node's ingress address so replies come back through it; host mode: on this node only, to its own task,
 * keeping the client's address), outgoing traffic of non-internal networks masqueraded, and no forwarding
 * between networks (nor out of an internal one).
 */
export function hostRuleset(view: NetworkView, nodeId: string): string {
  const ingress = view.networks.find((n) => n.ingress);
  const dnat: string[] = [];
  for (const s of view.services) {
    for (const port of s.ports) {
      const proto = protocolName(port.protocol);
      if (!port.publishedPort) continue;
      // A port published on one address of the node answers there only (an address nftables could not take is
      // left out rather than break the whole table; the managers refuse one that is not IPv4).
      if (port.hostIp && !isIPv4(port.hostIp)) continue;
      const where = port.hostIp ? `ip daddr ${port.hostIp}` : 'fib daddr type local';
      const targets = targetsFor(view, s.serviceId, port, ingress?.id, nodeId);
      if (targets.length === 0) continue;
      dnat.push(`${where} ${proto} dport ${port.publishedPort} ${dnatTo(targets, port.targetPort)}`);
    }
  }
  const post: string[] = [];
  if (ingress && view.ingressAddress) {
    post.push(`ct status dnat oifname "${names.bridge(ingress.vni)}" snat to ${addressOf(view.ingressAddress)}`);
  }
  // Nothing reaches a container from outside the overlay unless a published port led it there (DNAT): a host
  // that routes an overlay subnet through this node gets no further.
  const forward: string[] = [
    `oifname "${BRIDGE_PREFIX}*" iifname != "${BRIDGE_PREFIX}*" ct state new ct status & dnat == 0 drop`,
  ];
  for (const n of view.networks) {
    const bridge = names.bridge(n.vni);
    if (!n.ingress && !n.internal) post.push(`ip saddr ${n.subnet} oifname != "${BRIDGE_PREFIX}*" masquerade`);
    forward.push(`iifname "${bridge}" oifname != "${bridge}" oifname "${BRIDGE_PREFIX}*" drop`);
    if (n.internal) {
      forward.push(`iifname "${bridge}" oifname != "${bridge}" drop`);
      forward.push(`oifname "${bridge}" iifname != "${bridge}" drop`);
    }
  }
  // The VXLAN packets themselves need no connection tracking: their source port hashes the inner flow, so each
  // would stay in the table unanswered until it timed out.
  const untracked = [`udp dport ${VXLAN_PORT} notrack`];
  // VXLAN frames are taken only from the other nodes: anyone else could inject into any network.
  const peers = [...new Set(view.peers.map((p) => p.address).filter((a) => isIPv4(a)))];
  const input = [
    peers.length > 0
      ? `udp dport ${VXLAN_PORT} ip saddr != { ${peers.join(', ')} } drop`
      : `udp dport ${VXLAN_PORT} drop`,
  ];
  return script([
    chain('raw_prerouting', 'type filter hook prerouting priority -300; policy accept;', untracked),
    chain('raw_output', 'type filter hook output priority -300; policy accept;', untracked),
    chain('input', 'type filter hook input priority 0; policy accept;', input),
    chain('prerouting', 'type nat hook prerouting priority -100; policy accept;', dnat),
    chain('output', 'type nat hook output priority -100; policy accept;', dnat),
    chain('postrouting', 'type nat hook postrouting priority 100; policy accept;', post),
    chain('forward', 'type filter hook forward priority 0; policy accept;', forward),
  ]);
}

/** Where a published port leads: ready tasks anywhere (ingress) or this node's own (host mode). */
function targetsFor(
  view: NetworkView,
  serviceId: string,
  port: PortConfig,
  ingressId: string | undefined,
  nodeId: string,
): string[] {
  if (port.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST) {
    const own = view.endpoints.find(
      (e) => e.serviceId === serviceId && e.nodeId === nodeId && e.networkId !== ingressId,
    );
    return own ? readyAddresses(view, serviceId, own.networkId, nodeId) : [];
  }
  return ingressId ? readyAddresses(view, serviceId, ingressId) : [];
}

/**
 * A container's own rules: each service virtual IP on the container's networks leads to a ready task of the
 * service on a network both share (chosen at random per connection); a virtual IP with no ready task refuses
 * at once instead of leaving the client waiting.
 */
export function containerRuleset(view: NetworkView, taskId: string): string {
  const ingress = new Set(view.networks.filter((n) => n.ingress).map((n) => n.id));
  const own = new Set(
    view.endpoints.filter((e) => e.taskId === taskId && !ingress.has(e.networkId)).map((e) => e.networkId),
  );
  const dnat: string[] = [];
  const refuse: string[] = [];
  for (const s of view.services) {
    if (!s.virtualIp || s.mode === EndpointSpec_Mode.MODE_DNSRR) continue;
    const shared = s.networks.find((n) => own.has(n.networkId));
    if (!shared) continue;
    const targets = readyAddresses(view, s.serviceId, shared.networkId);
    if (targets.length > 0) dnat.push(`ip daddr ${s.virtualIp} ${dnatTo(targets)}`);
    else {
      refuse.push(`ip daddr ${s.virtualIp} meta l4proto tcp reject with tcp reset`);
      refuse.push(`ip daddr ${s.virtualIp} reject`);
    }
  }
  return script([
    chain('output', 'type nat hook output priority -100; policy accept;', dnat),
    chain('refuse', 'type filter hook output priority 0; policy accept;', refuse),
  ]);
}
