import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  EndpointSpec_Mode,
  NetworkView,
  type PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  type ServiceEndpoints,
  type TaskEndpoint,
} from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerRuleset, hostRuleset, TABLE } from './rulesets.js';

const NODE = 'node-a';
const OTHER_NODE = 'node-b';

const INGRESS = 'net-ingress';
const FRONT = 'net-front';
const BACK = 'net-back';
const OTHER = 'net-other';

function endpoint(
  taskId: string,
  serviceId: string,
  networkId: string,
  address: string,
  ready: boolean,
  nodeId = NODE,
): TaskEndpoint {
  return { taskId, serviceId, nodeId, networkId, address, ready, slot: 1n };
}

function port(
  protocol: PortConfig_Protocol,
  publishedPort: number,
  targetPort: number,
  publishMode = PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
): PortConfig {
  return { name: '', protocol, publishedPort, targetPort, publishMode, hostIp: '' };
}

function service(
  serviceId: string,
  networks: string[],
  extra: Partial<ServiceEndpoints> = {},
): Partial<ServiceEndpoints> {
  return {
    serviceId,
    name: `shop_${serviceId}`,
    mode: EndpointSpec_Mode.MODE_VIP,
    networks: networks.map((networkId) => ({ networkId, aliases: [] })),
    ...extra,
  };
}

const TCP = PortConfig_Protocol.PROTOCOL_TCP;
const UDP = PortConfig_Protocol.PROTOCOL_UDP;
const HOST = PortConfig_PublishMode.PUBLISH_MODE_HOST;

/**
 * Node A's view. web (VIP, front + ingress, tcp 8080→80) has two ready tasks and one not ready; dns (udp
 * 5353→53) one ready task; game (host mode, tcp 7777→7000) a task on each node; idle (tcp 9090→90) no ready
 * task; expose (tcp, not published); api (VIP, back) no ready task; db (dnsrr, back); far (VIP, other network).
 */
const view = NetworkView.fromPartial({
  nodeAddress: '192.0.2.10',
  peers: [
    { nodeId: 'node-b', address: '192.0.2.11', ingressAddress: '10.255.0.2/16' },
    { nodeId: 'node-c', address: '192.0.2.12', ingressAddress: '10.255.0.3/16' },
  ],
  ingressAddress: '10.255.0.1/16',
  networks: [
    { id: INGRESS, name: 'ingress', vni: 4096, subnet: '10.255.0.0/16', gateway: '10.255.0.254', ingress: true },
    { id: FRONT, name: 'shop_front', vni: 4097, subnet: '10.1.0.0/24', gateway: '10.1.0.1' },
    { id: BACK, name: 'shop_back', vni: 16_777_215, subnet: '10.2.0.0/24', gateway: '10.2.0.1', internal: true },
    { id: OTHER, name: 'other_net', vni: 4099, subnet: '10.3.0.0/24', gateway: '10.3.0.1' },
  ],
  services: [
    service('web', [FRONT, INGRESS], { virtualIp: '10.0.0.2', ports: [port(TCP, 8080, 80)] }),
    service('dns', [FRONT, INGRESS], { virtualIp: '10.0.0.6', ports: [port(UDP, 5353, 53)] }),
    service('game', [FRONT], { virtualIp: '10.0.0.7', ports: [port(TCP, 7777, 7000, HOST)] }),
    service('idle', [FRONT, INGRESS], { virtualIp: '10.0.0.8', ports: [port(TCP, 9090, 90)] }),
    service('expose', [FRONT, INGRESS], { virtualIp: '10.0.0.10', ports: [port(TCP, 0, 3000)] }),
    service('api', [BACK], { virtualIp: '10.0.0.3' }),
    service('db', [BACK], { mode: EndpointSpec_Mode.MODE_DNSRR, virtualIp: '10.0.0.9' }),
    service('far', [OTHER], { virtualIp: '10.0.0.4' }),
  ],
  endpoints: [
    endpoint('client', 'client', FRONT, '10.1.0.10/24', true),
    endpoint('client', 'client', BACK, '10.2.0.10/24', true),
    endpoint('client', 'client', INGRESS, '10.255.0.10/16', true),
    endpoint('front-only', 'client', FRONT, '10.1.0.20/24', true),
    endpoint('web-1', 'web', FRONT, '10.1.0.2/24', true),
    endpoint('web-1', 'web', INGRESS, '10.255.0.2/16', true),
    endpoint('web-2', 'web', FRONT, '10.1.0.3/24', true, OTHER_NODE),
    endpoint('web-2', 'web', INGRESS, '10.255.0.3/16', true, OTHER_NODE),
    endpoint('web-3', 'web', FRONT, '10.1.0.4/24', false, OTHER_NODE),
    endpoint('web-3', 'web', INGRESS, '10.255.0.4/16', false, OTHER_NODE),
    endpoint('dns-1', 'dns', FRONT, '10.1.0.5/24', true, OTHER_NODE),
    endpoint('dns-1', 'dns', INGRESS, '10.255.0.5/16', true, OTHER_NODE),
    endpoint('game-1', 'game', FRONT, '10.1.0.7/24', true),
    endpoint('game-2', 'game', FRONT, '10.1.0.8/24', true, OTHER_NODE),
    endpoint('idle-1', 'idle', FRONT, '10.1.0.9/24', false),
    endpoint('idle-1', 'idle', INGRESS, '10.255.0.9/16', false),
    endpoint('expose-1', 'expose', FRONT, '10.1.0.11/24', true),
    endpoint('expose-1', 'expose', INGRESS, '10.255.0.11/16', true),
    endpoint('db-1', 'db', BACK, '10.2.0.2/24', true, OTHER_NODE),
    endpoint('far-1', 'far', OTHER, '10.3.0.2/24', true, OTHER_NODE),
  ],
});

/** The rules of one chain (without its hook line), as the script writes them. */
function rulesOf(script: string, name: string): string[] {
  const lines = script.split('\n');
  const start = lines.indexOf(`  chain ${name} {`);
  if (start < 0) throw new Error(`no chain ${name} in:\n${script}`);
  const end = lines.indexOf('  }', start);
  return lines.slice(start + 2, end).map((l) => l.trim());
}

function chainsOf(script: string): string[] {
  return [...script.matchAll(/^ {2}chain (\S+) \{$/gm)].map((m) => m[1] ?? '');
}

describe('hostRuleset', () => {
  const script = hostRuleset(view, NODE);
  const dnat = rulesOf(script, 'prerouting');

  it('replaces the whole table in one go', () => {
    expect(TABLE).toBe('flotilla');
    expect(script.startsWith('table ip flotilla\ndelete table ip flotilla\ntable ip flotilla {\n')).toBe(true);
    expect(script.endsWith('\n}\n')).toBe(true);
    expect(chainsOf(script)).toEqual([
      'raw_prerouting',
      'raw_output',
      'input',
      'prerouting',
      'output',
      'postrouting',
      'forward',
    ]);
    // VXLAN's own packets are not connection-tracked.
    expect(rulesOf(script, 'raw_prerouting')).toEqual(['udp dport 4789 notrack']);
    expect(rulesOf(script, 'raw_output')).toEqual(['udp dport 4789 notrack']);
    expect(rulesOf(script, 'prerouting').length).toBeGreaterThan(0);
    expect(script).toContain('  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n');
    expect(script).toContain('  chain forward {\n    type filter hook forward priority 0; policy accept;\n');
  });

  it('DNATs an ingress port to the ready ingress addresses of the service on any node, picked at random', () => {
    expect(dnat).toContain(
      'fib daddr type local tcp dport 8080 dnat to numgen random mod 2 map { 0 : 10.255.0.2, 1 : 10.255.0.3 } : 80',
    );
    expect(script).not.toContain('10.255.0.4');
  });

  it('DNATs to a single ready target without a map', () => {
    expect(dnat).toContain('fib daddr type local udp dport 5353 dnat to 10.255.0.5:53');
  });

  it('applies the same DNAT to connections from the node itself', () => {
    expect(rulesOf(script, 'output')).toEqual(dnat);
  });

  it('DNATs a host-mode port to this node’s own ready task only', () => {
    expect(dnat).toContain('fib daddr type local tcp dport 7777 dnat to 10.1.0.7:7000');
    expect(rulesOf(hostRuleset(view, OTHER_NODE), 'prerouting')).toContain(
      'fib daddr type local tcp dport 7777 dnat to 10.1.0.8:7000',
    );
    expect(rulesOf(hostRuleset(view, 'node-c'), 'prerouting').some((r) => r.includes('dport 7777'))).toBe(false);
    const notReady = NetworkView.fromPartial({
      ...view,
      endpoints: view.endpoints.map((e) => (e.taskId === 'game-1' ? { ...e, ready: false } : e)),
    });
    expect(rulesOf(hostRuleset(notReady, NODE), 'prerouting').some((r) => r.includes('dport 7777'))).toBe(false);
  });

  it('has no rule for a port without ready targets or without a published number', () => {
    expect(dnat.some((r) => r.includes('dport 9090'))).toBe(false);
    expect(dnat.some((r) => r.includes(':3000') || r.includes('dport 0'))).toBe(false);
    expect(dnat).toHaveLength(3);
  });

  it('has no ingress DNAT without an ingress network', () => {
    const noIngress = NetworkView.fromPartial({ ...view, networks: view.networks.filter((n) => !n.ingress) });
    expect(rulesOf(hostRuleset(noIngress, NODE), 'prerouting')).toEqual([
      'fib daddr type local tcp dport 7777 dnat to 10.1.0.7:7000',
    ]);
  });

  it('SNATs DNATed traffic leaving through the ingress bridge to the node’s ingress address', () => {
    const post = rulesOf(script, 'postrouting');
    expect(post).toContain('ct status dnat oifname "fb-4096" snat to 10.255.0.1');
    const noAddress = NetworkView.fromPartial({ ...view, ingressAddress: '' });
    expect(rulesOf(hostRuleset(noAddress, NODE), 'postrouting').some((r) => r.includes('snat'))).toBe(false);
  });

  it('masquerades only non-internal, non-ingress networks leaving the overlay', () => {
    const masquerade = rulesOf(script, 'postrouting').filter((r) => r.includes('masquerade'));
    expect(masquerade).toEqual([
      'ip saddr 10.1.0.0/24 oifname != "fb-*" masquerade',
      'ip saddr 10.3.0.0/24 oifname != "fb-*" masquerade',
    ]);
  });

  it('isolates every bridge from the other overlay bridges', () => {
    const forward = rulesOf(script, 'forward');
    for (const bridge of ['fb-4096', 'fb-4097', 'fb-16777215', 'fb-4099']) {
      expect(forward).toContain(`iifname "${bridge}" oifname != "${bridge}" oifname "fb-*" drop`);
    }
  });

  it('drops everything forwarded into or out of an internal network', () => {
    const forward = rulesOf(script, 'forward');
    expect(forward).toContain('iifname "fb-16777215" oifname != "fb-16777215" drop');
    expect(forward).toContain('oifname "fb-16777215" iifname != "fb-16777215" drop');
    // The other networks have only their isolation rule; one rule guards every bridge from outside.
    expect(forward).toHaveLength(1 + 4 + 2);
  });

  it('gives an empty view empty chains', () => {
    const empty = hostRuleset(NetworkView.fromPartial({}), NODE);
    for (const name of ['prerouting', 'output', 'postrouting']) expect(rulesOf(empty, name)).toEqual([]);
    // Still closed: no VXLAN from anyone, nothing into a bridge from outside but published ports.
    expect(rulesOf(empty, 'input')).toEqual(['udp dport 4789 drop']);
    expect(rulesOf(empty, 'forward')).toEqual([
      'oifname "fb-*" iifname != "fb-*" ct state new ct status & dnat == 0 drop',
    ]);
  });

  it('takes VXLAN packets only from the peers, and guards the bridges from outside', () => {
    const input = rulesOf(script, 'input');
    expect(input).toHaveLength(1);
    expect(input[0]).toMatch(/^udp dport 4789 ip saddr != \{ [\d., ]+ \} drop$/);
    for (const p of view.peers) expect(input[0]).toContain(p.address);
    expect(rulesOf(script, 'forward')[0]).toBe(
      'oifname "fb-*" iifname != "fb-*" ct state new ct status & dnat == 0 drop',
    );
  });
});

describe('containerRuleset', () => {
  const client = containerRuleset(view, 'client');
  const frontOnly = containerRuleset(view, 'front-only');

  it('replaces the whole table in one go', () => {
    expect(client.startsWith('table ip flotilla\ndelete table ip flotilla\ntable ip flotilla {\n')).toBe(true);
    expect(chainsOf(client)).toEqual(['output', 'refuse']);
    expect(client).toContain('  chain output {\n    type nat hook output priority -100; policy accept;\n');
    expect(client).toContain('  chain refuse {\n    type filter hook output priority 0; policy accept;\n');
  });

  it('DNATs the virtual IPs of services on a shared network to their ready tasks on that network', () => {
    const dnat = rulesOf(client, 'output');
    expect(dnat).toContain('ip daddr 10.0.0.2 dnat to numgen random mod 2 map { 0 : 10.1.0.2, 1 : 10.1.0.3 }');
    expect(dnat).toContain('ip daddr 10.0.0.6 dnat to 10.1.0.5');
    expect(dnat).toContain('ip daddr 10.0.0.7 dnat to numgen random mod 2 map { 0 : 10.1.0.7, 1 : 10.1.0.8 }');
    // Never to an ingress address, nor to a task that is not ready.
    expect(client).not.toMatch(/10\.255\./);
    expect(client).not.toContain('10.1.0.4');
  });

  it('picks targets on the network the task shares with the service', () => {
    const both = NetworkView.fromPartial({
      ...view,
      services: [service('api', [FRONT, BACK], { virtualIp: '10.0.0.3' })],
      endpoints: [
        ...view.endpoints,
        endpoint('back-only', 'client', BACK, '10.2.0.20/24', true),
        endpoint('api-1', 'api', FRONT, '10.1.0.30/24', true, OTHER_NODE),
        endpoint('api-1', 'api', BACK, '10.2.0.30/24', true, OTHER_NODE),
      ],
    });
    expect(rulesOf(containerRuleset(both, 'back-only'), 'output')).toEqual(['ip daddr 10.0.0.3 dnat to 10.2.0.30']);
    expect(rulesOf(containerRuleset(both, 'front-only'), 'output')).toEqual(['ip daddr 10.0.0.3 dnat to 10.1.0.30']);
  });

  it('has no rules for services on networks the task is not on', () => {
    expect(client).not.toContain('10.0.0.4');
    expect(frontOnly).not.toContain('10.0.0.3');
  });

  it('has no rules for dnsrr services', () => {
    expect(client).not.toContain('10.0.0.9');
  });

  it('refuses a virtual IP without a ready task at once', () => {
    expect(rulesOf(client, 'refuse')).toEqual([
      'ip daddr 10.0.0.8 meta l4proto tcp reject with tcp reset',
      'ip daddr 10.0.0.8 reject',
      'ip daddr 10.0.0.3 meta l4proto tcp reject with tcp reset',
      'ip daddr 10.0.0.3 reject',
    ]);
    expect(rulesOf(client, 'output').some((r) => r.includes('10.0.0.8') || r.includes('10.0.0.3'))).toBe(false);
  });

  it('gives a task on no network but ingress no rules', () => {
    const ingressOnly = NetworkView.fromPartial({
      ...view,
      endpoints: [...view.endpoints, endpoint('edge', 'edge', INGRESS, '10.255.0.50/16', true)],
    });
    const script = containerRuleset(ingressOnly, 'edge');
    expect(rulesOf(script, 'output')).toEqual([]);
    expect(rulesOf(script, 'refuse')).toEqual([]);
  });
});

function hasCommand(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canCheck =
  process.getuid?.() === 0 &&
  hasCommand('nft', ['--version']) &&
  hasCommand('ip', ['-V']) &&
  hasCommand('nsenter', ['--version']);

describe.skipIf(!canCheck)('nft syntax (nft -c in a throwaway network namespace)', () => {
  const namespace = `flt-ut-${randomBytes(4).toString('hex')}`;
  let created = false;

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', namespace], { stdio: 'pipe' });
    created = true;
  });

  afterAll(() => {
    if (created) execFileSync('ip', ['netns', 'delete', namespace], { stdio: 'pipe' });
  });

  /** nft's complaint about the script, or '' when it accepts it. */
  function nftCheck(script: string): string {
    try {
      execFileSync('nsenter', [`--net=/run/netns/${namespace}`, 'nft', '-c', '-f', '-'], {
        input: script,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      return '';
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      return `${stderr || String(error)}\n--- script ---\n${script}`;
    }
  }

  const noSnat = NetworkView.fromPartial({ ...view, ingressAddress: '' });
  const scripts: [string, string][] = [
    ['hostRuleset, node A', hostRuleset(view, NODE)],
    ['hostRuleset, node B', hostRuleset(view, OTHER_NODE)],
    ['hostRuleset, no ingress address', hostRuleset(noSnat, NODE)],
    ['hostRuleset, empty view', hostRuleset(NetworkView.fromPartial({}), NODE)],
    ['containerRuleset, task on front and back', containerRuleset(view, 'client')],
    ['containerRuleset, task on front', containerRuleset(view, 'front-only')],
    ['containerRuleset, unknown task', containerRuleset(view, 'nobody')],
  ];

  it.each(scripts)('accepts %s', (_, script) => {
    expect(nftCheck(script)).toBe('');
  });

  it('rejects a broken script (the check is real)', () => {
    expect(nftCheck(`${hostRuleset(view, NODE)}table ip ${TABLE} { chain x { dnat to } }\n`)).not.toBe('');
  });
});
