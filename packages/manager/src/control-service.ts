import {
  ClusterSettings,
  Code,
  type ControlServiceServer,
  FlotillaError,
  type Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  type RemoveNodeResponse,
  toGrpcStatus,
} from '@flotilla/api';
import type { LogReader } from '@flotilla/events';
import type { CertificateAuthority } from '@flotilla/pki';
import { CLUSTER_KEY, type Store, type Versioned } from '@flotilla/store';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { JoinTokens } from './join-tokens.js';
import { peerIdentity } from './peer-identity.js';
import { serviceControl } from './service-control.js';
import { type ServiceLogsOptions, serviceLogs } from './service-logs.js';
import { planStack } from './stack-plan.js';

/** Wraps a request handler: checks the caller's certificate, maps domain errors to gRPC statuses. */
export type Handle = <Req, Res>(
  fn: (request: Req) => Promise<Res>,
) => (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Where `ServiceLogs` reads container logs from: none when the managers were started without Redis. */
export interface ControlLogs extends ServiceLogsOptions {
  reader?: LogReader;
}

/** The control API the CLI uses. Only operator and manager certificates may call it. */
export function controlService(
  store: Store,
  ca: CertificateAuthority,
  tokens: JoinTokens,
  logs: ControlLogs = {},
): ControlServiceServer {
  const handle: Handle =
    <Req, Res>(fn: (request: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      Promise.resolve()
        .then(() => {
          const who = peerIdentity(call, ca);
          if (who.role === 'worker')
            throw new FlotillaError(Code.PermissionDenied, 'workers cannot use the control API');
          return fn(call.request);
        })
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(toGrpcStatus(err)),
        );
    };

  return {
    ...serviceControl(store, handle),
    serviceLogs: serviceLogs(store, ca, logs.reader, logs),
    // A read: any manager answers, and the plan is given only the store's read methods.
    planStack: handle(async (request) => {
      if (!request.stack) throw new FlotillaError(Code.InvalidArgument, 'no stack in the request');
      return planStack({ list: store.list.bind(store), get: store.get.bind(store) }, request.stack, request.prune);
    }),
    getCluster: handle(async () => {
      const cluster = await store.get('clusters', CLUSTER_KEY);
      if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
      return { id: cluster.value.id, settings: cluster.value.settings, createdAtMs: cluster.value.createdAtMs };
    }),
    updateCluster: handle(async (request) => {
      const settings = await store.modify('clusters', CLUSTER_KEY, (c) => {
        const current = ClusterSettings.fromPartial(c.settings ?? {});
        const next: ClusterSettings = {
          ...current,
          ...(request.placementStrategy === undefined ? {} : { placementStrategy: request.placementStrategy }),
          ...(request.selfFenceTimeoutMs === undefined ? {} : { selfFenceTimeoutMs: request.selfFenceTimeoutMs }),
          ...(request.rebalanceDisabled === undefined ? {} : { rebalanceDisabled: request.rebalanceDisabled }),
          ...(request.taskHistoryLimit === undefined ? {} : { taskHistoryLimit: request.taskHistoryLimit }),
        };
        const grace = next.heartbeatPeriodMs * BigInt(next.heartbeatGracePeriods);
        if (next.selfFenceTimeoutMs >= grace) {
          throw new FlotillaError(
            Code.InvalidArgument,
            `the self-fence timeout must stay below the heartbeat grace (${grace} ms), or a cut-off node's tasks could run twice`,
          );
        }
        return { ...c, settings: next };
      });
      if (!settings) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
      return { settings: settings.value.settings };
    }),
    getJoinToken: handle(async (request) => {
      const role = request.role === NodeSpec_Role.ROLE_MANAGER ? 'manager' : 'worker';
      return { token: request.rotate ? await tokens.rotate(role) : await tokens.get(role) };
    }),
    listNodes: handle(async () => ({ nodes: (await store.list('nodes')).items.map((n) => n.value) })),
    getNode: handle(async (request) => ({ node: (await resolveNode(store, request.node)).value })),
    updateNode: handle(async (request) => {
      const { id } = await resolveNode(store, request.node);
      const updated = await store.modify('nodes', id, (node) => {
        const labels = { ...node.spec?.labels, ...request.labelAdd };
        for (const key of request.labelRm) delete labels[key];
        const availability =
          request.availability === NodeSpec_Availability.AVAILABILITY_UNSPECIFIED
            ? (node.spec?.availability ?? NodeSpec_Availability.AVAILABILITY_ACTIVE)
            : request.availability;
        return {
          ...node,
          spec: { role: node.spec?.role ?? 0, ...node.spec, availability, labels },
          updatedAtMs: BigInt(Date.now()),
        };
      });
      if (!updated) throw new FlotillaError(Code.NotFound, `node ${id} was removed meanwhile`);
      return { node: updated.value };
    }),
    removeNode: handle(async (request): Promise<RemoveNodeResponse> => {
      const node = await resolveNode(store, request.node);
      if (node.value.status?.state === NodeStatus_State.STATE_READY && !request.force) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `node ${node.id} is ready: drain it (node update --availability drain) and stop its agent, or use --force`,
        );
      }
      // The leader's dispatcher sees the delete and ends the node's session.
      await store.delete('nodes', node.id);
      return {};
    }),
  };
}

/** A node by ID, unambiguous ID prefix, or hostname. */
async function resolveNode(store: Store, ref: string): Promise<Versioned<Node>> {
  const exact = ref ? await store.get('nodes', ref).catch(() => undefined) : undefined;
  if (exact) return exact;
  const { items } = await store.list('nodes');
  const matches = items.filter((n) => n.id.startsWith(ref) || n.value.description?.hostname === ref);
  if (matches.length === 1) return matches[0] as Versioned<Node>;
  if (matches.length === 0)
    throw new FlotillaError(Code.NotFound, `no node ${JSON.stringify(ref)}: see flotilla node ls`);
  throw new FlotillaError(
    Code.FailedPrecondition,
    `${JSON.stringify(ref)} matches ${matches.length} nodes: give more of the ID`,
  );
}
