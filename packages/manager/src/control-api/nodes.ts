import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  type Node,
  NodeSpec_Availability,
  NodeStatus_State,
  type RemoveNodeResponse,
} from '@flotilla/api';
import type { Store, Versioned } from '@flotilla/store';
import { revocationWrites } from '../cluster/revocations.js';
import type { Handle } from './handler.js';
import { byExactId } from './lookup.js';

type NodeHandlers = Pick<ControlServiceServer, 'listNodes' | 'getNode' | 'updateNode' | 'removeNode'>;

/** Nodes in the control API: their availability and labels, and their removal from the cluster. */
export function nodeControl(store: Store, handle: Handle): NodeHandlers {
  return {
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
      // Removed and revoked in one transaction: every manager refuses its certificates from the next call, and
      // the leader's dispatcher sees the delete and ends the node's session.
      const revoke = await revocationWrites(store, { subjectId: node.id, reason: 'node removed' });
      await store.batch([{ op: 'delete', kind: 'nodes', id: node.id }, ...revoke]);
      return {};
    }),
  };
}

/** A node by ID, unambiguous ID prefix, or hostname. */
async function resolveNode(store: Store, ref: string): Promise<Versioned<Node>> {
  const exact = await byExactId(store, 'nodes', ref);
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
