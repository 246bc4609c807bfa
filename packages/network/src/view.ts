import {
  type Network,
  type NetworkView,
  type Node,
  NodeStatus_State,
  PortConfig_PublishMode,
  type Service,
  type ServiceEndpoints,
  type Task,
  type TaskEndpoint,
  TaskHealth,
  TaskState,
  taskEnded,
} from '@flotilla/api';
import { ingressPorts } from './allocator.js';
import { DEFAULT_POOLS, type Pools } from './pools.js';

/**
 * Whether a task takes connections: running, healthy where it has a healthcheck, and meant to keep running. A
 * task told to stop is not ready from that moment, before its agent stops it, so every node takes it out of its
 * load balancing first (drain).
 */
export function taskReady(t: Task): boolean {
  if (t.desiredState !== TaskState.TASK_STATE_RUNNING || t.status?.state !== TaskState.TASK_STATE_RUNNING) return false;
  const health = t.status.health;
  return health !== TaskHealth.TASK_HEALTH_STARTING && health !== TaskHealth.TASK_HEALTH_UNHEALTHY;
}

export interface ViewSources {
  networks: Iterable<Network>;
  services: Iterable<Service>;
  tasks: Iterable<Task>;
  nodes: Iterable<Node>;
}

/**
 * Every node's network view, from one index of the cluster built once per change: the networks a node's tasks
 * join (and the ingress network, on every node), the peers on them, and the services and task endpoints there.
 */
export class NetworkViews {
  private readonly virtualIpPool: string;
  private readonly networks = new Map<string, Network>();
  private readonly networksByName = new Map<string, Network>();
  private readonly nodes = new Map<string, Node>();
  private readonly ingress: Network | undefined;
  /** Live endpoints (task addresses) by network. */
  private readonly endpoints = new Map<string, TaskEndpoint[]>();
  /** Networks each node's live tasks join. */
  private readonly nodeNetworks = new Map<string, Set<string>>();
  /** Nodes with live tasks on each network. */
  private readonly networkNodes = new Map<string, Set<string>>();
  private readonly services: Service[] = [];

  constructor(sources: ViewSources, pools: Pools = DEFAULT_POOLS) {
    this.virtualIpPool = pools.virtualIps;
    for (const n of sources.networks) {
      if (!n.vni || !n.subnet) continue;
      this.networks.set(n.id, n);
      this.networksByName.set(n.spec?.annotations?.name ?? n.id, n);
    }
    this.ingress = [...this.networks.values()].find((n) => n.ingress);
    for (const n of sources.nodes) this.nodes.set(n.id, n);
    for (const t of sources.tasks) {
      if (!t.nodeId || taskEnded(t) || t.networks.length === 0) continue;
      const node = this.nodes.get(t.nodeId);
      // A down node's tasks are out of reach: they leave every table, with the node's own entries.
      if (!node || node.status?.state === NodeStatus_State.STATE_DOWN) continue;
      for (const attachment of t.networks) {
        if (!this.networks.has(attachment.networkId)) continue;
        push(this.endpoints, attachment.networkId, {
          taskId: t.id,
          serviceId: t.serviceId,
          nodeId: t.nodeId,
          networkId: attachment.networkId,
          address: attachment.address,
          ready: taskReady(t),
          slot: t.slot,
        });
        add(this.nodeNetworks, t.nodeId, attachment.networkId);
        add(this.networkNodes, attachment.networkId, t.nodeId);
      }
    }
    for (const list of this.endpoints.values()) list.sort((a, b) => compare(a.taskId, b.taskId));
    this.services = [...sources.services].sort((a, b) => compare(a.id, b.id));
  }

  /** The view for one node. */
  viewFor(nodeId: string): NetworkView {
    const self = this.nodes.get(nodeId);
    const local = new Set(this.nodeNetworks.get(nodeId) ?? []);
    if (this.ingress) local.add(this.ingress.id);
    const networks = [...local]
      .map((id) => this.networks.get(id))
      .filter((n): n is Network => !!n)
      .sort((a, b) => compare(a.id, b.id));
    const peerIds = new Set<string>();
    for (const id of local) for (const n of this.networkNodes.get(id) ?? []) peerIds.add(n);
    // Every node is on the ingress network: published ports answer on all of them.
    if (this.ingress) for (const n of this.nodes.values()) if (n.ingressAddress) peerIds.add(n.id);
    peerIds.delete(nodeId);
    const peers = [...peerIds]
      .map((id) => this.nodes.get(id))
      .filter((n): n is Node => !!n && !!n.status?.address && n.status.state !== NodeStatus_State.STATE_DOWN)
      .sort((a, b) => compare(a.id, b.id))
      .map((n) => ({ nodeId: n.id, address: n.status?.address ?? '', ingressAddress: n.ingressAddress }));
    const services: ServiceEndpoints[] = [];
    for (const s of this.services) {
      const attached = (s.spec?.networks ?? [])
        .map((a) => ({ network: this.networksByName.get(a.target), aliases: a.aliases }))
        .filter((a) => a.network && local.has(a.network.id))
        .map((a) => ({ networkId: a.network?.id ?? '', aliases: a.aliases }));
      const published = ingressPorts(s).length > 0 && this.ingress !== undefined;
      const hostPorts = s.endpointPorts.some((p) => p.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST);
      if (attached.length === 0 && !published && !hostPorts) continue;
      if (published && this.ingress) attached.push({ networkId: this.ingress.id, aliases: [] });
      services.push({
        serviceId: s.id,
        name: s.spec?.annotations?.name ?? s.id,
        virtualIp: s.virtualIp,
        mode: s.spec?.endpoint?.mode ?? 0,
        ports: s.endpointPorts,
        networks: attached,
      });
    }
    const endpoints = networks.flatMap((n) => this.endpoints.get(n.id) ?? []);
    return {
      nodeAddress: self?.status?.address ?? '',
      ingressAddress: self?.ingressAddress ?? '',
      virtualIpPool: this.virtualIpPool,
      networks: networks.map((n) => ({
        id: n.id,
        name: n.spec?.annotations?.name ?? n.id,
        vni: n.vni,
        subnet: n.subnet,
        gateway: n.gateway,
        internal: n.spec?.internal ?? false,
        ingress: n.ingress,
      })),
      peers,
      services,
      endpoints,
    };
  }
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
