import { EndpointSpec_Mode, NetworkView, type ServiceEndpoints, type TaskEndpoint } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { DnsTable } from './dns-table.js';

const NODE = 'node-a';
const OTHER_NODE = 'node-b';

const INGRESS = 'net-ingress';
const FRONT = 'net-front';
const BACK = 'net-back';

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

function service(
  serviceId: string,
  name: string,
  networks: Record<string, string[]>,
  extra: Partial<ServiceEndpoints> = {},
): Partial<ServiceEndpoints> {
  return {
    serviceId,
    name,
    mode: EndpointSpec_Mode.MODE_VIP,
    networks: Object.entries(networks).map(([networkId, aliases]) => ({ networkId, aliases })),
    ...extra,
  };
}

/**
 * Node A runs `client` (front, back and ingress), `front-only` (front) and `starting` (front, not ready); node B
 * runs `remote` (front). shop_web (VIP) is on front and published on ingress; shop_api (VIP) on front and back;
 * shop_db and shop_cache (dnsrr) on back; edge_proxy only on ingress.
 */
const view = NetworkView.fromPartial({
  ingressAddress: '10.255.0.1/16',
  networks: [
    { id: INGRESS, name: 'ingress', vni: 4096, subnet: '10.255.0.0/16', ingress: true },
    { id: FRONT, name: 'shop_front', vni: 4097, subnet: '10.1.0.0/24' },
    { id: BACK, name: 'shop_back', vni: 4098, subnet: '10.2.0.0/24', internal: true },
  ],
  services: [
    service('svc-web', 'shop_web', { [FRONT]: ['WEB', 'Www.Shop'], [INGRESS]: [] }, { virtualIp: '10.0.0.2' }),
    service('svc-api', 'shop_api', { [FRONT]: ['api'], [BACK]: ['api'] }, { virtualIp: '10.0.0.3' }),
    service('svc-db', 'shop_db', { [BACK]: ['db'] }, { mode: EndpointSpec_Mode.MODE_DNSRR, virtualIp: '10.0.0.9' }),
    service('svc-cache', 'shop_cache', { [BACK]: ['cache'] }, { mode: EndpointSpec_Mode.MODE_DNSRR }),
    service('svc-edge', 'edge_proxy', { [INGRESS]: ['proxy'] }, { virtualIp: '10.0.0.5' }),
  ],
  endpoints: [
    endpoint('client', 'svc-client', FRONT, '10.1.0.10/24', true),
    endpoint('client', 'svc-client', BACK, '10.2.0.10/24', true),
    endpoint('client', 'svc-client', INGRESS, '10.255.0.10/16', true),
    endpoint('front-only', 'svc-other', FRONT, '10.1.0.20/24', true),
    endpoint('starting', 'svc-other', FRONT, '10.1.0.21/24', false),
    endpoint('remote', 'svc-other', FRONT, '10.1.0.30/24', true, OTHER_NODE),
    endpoint('web-1', 'svc-web', FRONT, '10.1.0.2/24', true),
    endpoint('web-1', 'svc-web', INGRESS, '10.255.0.2/16', true),
    endpoint('web-2', 'svc-web', FRONT, '10.1.0.3/24', true, OTHER_NODE),
    endpoint('web-2', 'svc-web', INGRESS, '10.255.0.3/16', true, OTHER_NODE),
    endpoint('web-3', 'svc-web', FRONT, '10.1.0.4/24', false, OTHER_NODE),
    endpoint('web-3', 'svc-web', INGRESS, '10.255.0.4/16', false, OTHER_NODE),
    endpoint('api-1', 'svc-api', FRONT, '10.1.0.5/24', true, OTHER_NODE),
    endpoint('api-1', 'svc-api', BACK, '10.2.0.5/24', true, OTHER_NODE),
    endpoint('db-1', 'svc-db', BACK, '10.2.0.2/24', true, OTHER_NODE),
    endpoint('db-2', 'svc-db', BACK, '10.2.0.3/24', true),
    endpoint('db-3', 'svc-db', BACK, '10.2.0.4/24', false, OTHER_NODE),
    endpoint('cache-1', 'svc-cache', BACK, '10.2.0.6/24', false, OTHER_NODE),
    endpoint('edge-1', 'svc-edge', INGRESS, '10.255.0.6/16', true, OTHER_NODE),
  ],
});

const CLIENT = '10.1.0.10';
const FRONT_ONLY = '10.1.0.20';

const sorted = (addresses: string[] | undefined) => (addresses ? [...addresses].sort() : addresses);

describe('DnsTable', () => {
  const table = new DnsTable(view, NODE);

  it('resolves a service on the container’s network by full name and by alias to its virtual IP', () => {
    expect(table.lookup(CLIENT, 'shop_web')).toEqual(['10.0.0.2']);
    expect(table.lookup(CLIENT, 'shop_api')).toEqual(['10.0.0.3']);
    expect(table.lookup(CLIENT, 'api')).toEqual(['10.0.0.3']);
    expect(table.lookup(FRONT_ONLY, 'shop_web')).toEqual(['10.0.0.2']);
  });

  it('matches aliases written in upper case in the view with lower-case queries', () => {
    expect(table.lookup(CLIENT, 'web')).toEqual(['10.0.0.2']);
    expect(table.lookup(CLIENT, 'www.shop')).toEqual(['10.0.0.2']);
  });

  it('resolves a dnsrr service, by name and alias, to its ready task addresses', () => {
    expect(sorted(table.lookup(CLIENT, 'shop_db'))).toEqual(['10.2.0.2', '10.2.0.3']);
    expect(sorted(table.lookup(CLIENT, 'db'))).toEqual(['10.2.0.2', '10.2.0.3']);
  });

  it('resolves tasks.<name> to the ready task addresses only, never the virtual IP', () => {
    expect(sorted(table.lookup(CLIENT, 'tasks.shop_web'))).toEqual(['10.1.0.2', '10.1.0.3']);
    expect(sorted(table.lookup(CLIENT, 'tasks.web'))).toEqual(['10.1.0.2', '10.1.0.3']);
    expect(sorted(table.lookup(CLIENT, 'tasks.shop_db'))).toEqual(['10.2.0.2', '10.2.0.3']);
  });

  it('answers with task addresses on the network the container shares with the service', () => {
    expect(table.lookup(FRONT_ONLY, 'tasks.shop_api')).toEqual(['10.1.0.5']);
    const backOnly = new DnsTable(
      NetworkView.fromPartial({
        ...view,
        endpoints: [...view.endpoints, endpoint('back-only', 'svc-other', BACK, '10.2.0.20/24', true)],
      }),
      NODE,
    );
    expect(backOnly.lookup('10.2.0.20', 'tasks.shop_api')).toEqual(['10.2.0.5']);
    // On both networks: the task's address on each of them.
    expect(sorted(table.lookup(CLIENT, 'tasks.api'))).toEqual(['10.1.0.5', '10.2.0.5']);
  });

  it('leaves names of networks the container is not on unanswered (to be forwarded)', () => {
    expect(table.lookup(FRONT_ONLY, 'shop_db')).toBeUndefined();
    expect(table.lookup(FRONT_ONLY, 'db')).toBeUndefined();
    expect(table.lookup(FRONT_ONLY, 'tasks.shop_db')).toBeUndefined();
    expect(table.lookup(CLIENT, 'example.com')).toBeUndefined();
    expect(table.lookup(CLIENT, 'tasks.example')).toBeUndefined();
  });

  it('answers only the local containers, ready or not', () => {
    expect(table.isClient(CLIENT)).toBe(true);
    expect(table.isClient('10.2.0.10')).toBe(true);
    expect(table.isClient('10.1.0.21')).toBe(true);
    expect(table.lookup('10.1.0.21', 'shop_web')).toEqual(['10.0.0.2']);
    // A container of another node, or an address that is no container.
    expect(table.isClient('10.1.0.30')).toBe(false);
    expect(table.lookup('10.1.0.30', 'shop_web')).toBeUndefined();
    expect(table.isClient('192.0.2.1')).toBe(false);
    expect(table.lookup('192.0.2.1', 'shop_web')).toBeUndefined();
  });

  it('answers a dnsrr service without ready tasks with no addresses rather than forwarding', () => {
    expect(table.lookup(CLIENT, 'shop_cache')).toEqual([]);
    expect(table.lookup(CLIENT, 'cache')).toEqual([]);
    expect(table.lookup(CLIENT, 'tasks.shop_cache')).toEqual([]);
  });

  it('never gives names on the ingress network', () => {
    expect(table.lookup(CLIENT, 'edge_proxy')).toBeUndefined();
    expect(table.lookup(CLIENT, 'proxy')).toBeUndefined();
    expect(table.lookup(CLIENT, 'tasks.edge_proxy')).toBeUndefined();
    // A container's ingress address is no client, and no ingress address is in an answer.
    expect(table.isClient('10.255.0.10')).toBe(false);
    expect(table.lookup('10.255.0.10', 'shop_web')).toBeUndefined();
    expect(table.lookup(CLIENT, 'tasks.shop_web')?.some((a) => a.startsWith('10.255.'))).toBe(false);
  });

  it('returns and accepts addresses without prefix length', () => {
    expect(table.isClient('10.1.0.10/24')).toBe(false);
    for (const name of ['shop_web', 'tasks.shop_web', 'shop_db', 'tasks.api']) {
      const answer = table.lookup(CLIENT, name) ?? [];
      expect(answer.length, name).toBeGreaterThan(0);
      for (const address of answer) expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
  });

  it('answers a VIP service without a virtual IP yet with its ready tasks', () => {
    const noVip = new DnsTable(
      NetworkView.fromPartial({
        ...view,
        services: [service('svc-web', 'shop_web', { [FRONT]: [] }, { virtualIp: '' })],
      }),
      NODE,
    );
    expect(sorted(noVip.lookup(CLIENT, 'shop_web'))).toEqual(['10.1.0.2', '10.1.0.3']);
  });

  it('sees nothing of another node’s view of the same cluster', () => {
    const other = new DnsTable(view, OTHER_NODE);
    expect(other.isClient(CLIENT)).toBe(false);
    expect(other.isClient('10.1.0.30')).toBe(true);
    expect(other.lookup('10.1.0.30', 'shop_web')).toEqual(['10.0.0.2']);
    expect(other.lookup('10.1.0.30', 'shop_db')).toBeUndefined();
  });
});

describe('DnsTable for a container only on internal networks', () => {
  const sealedView = NetworkView.fromPartial({
    networks: [
      { id: BACK, name: 'shop_back', vni: 4098, subnet: '10.2.0.0/24', internal: true },
      { id: FRONT, name: 'shop_front', vni: 4097, subnet: '10.1.0.0/24' },
    ],
    services: [service('svc-db', 'shop_db', { [BACK]: ['db'] }, { mode: EndpointSpec_Mode.MODE_DNSRR })],
    endpoints: [
      endpoint('inside', 'svc-x', BACK, '10.2.0.20/24', true),
      endpoint('db1', 'svc-db', BACK, '10.2.0.21/24', true),
      endpoint('outside', 'svc-y', FRONT, '10.1.0.30/24', true),
    ],
  });
  const table = new DnsTable(sealedView, NODE);

  it('answers its cluster names but forwards nothing: other names get an empty answer', () => {
    expect(table.lookup('10.2.0.20', 'db')).toEqual(['10.2.0.21']);
    expect(table.lookup('10.2.0.20', 'example.org')).toEqual([]);
  });

  it('still forwards for a container on a network with a way out', () => {
    expect(table.lookup('10.1.0.30', 'example.org')).toBeUndefined();
  });
});
