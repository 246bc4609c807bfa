import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  type Manager,
  type Node,
  NodeSpec_Availability,
  NodeStatus_State,
  type RemoveNodeResponse,
} from '@flotilla/api';
import type { Store, Versioned } from '@flotilla/store';
import { managerCountWarnings, managerStates } from '../cluster/manager-records.js';
import { revocationWrites } from '../cluster/revocations.js';
import type { Handle } from './handler.js';
import { byExactId } from './lookup.js';

type NodeHandlers = Pick<ControlServiceServer, 'listNodes' | 'getNode' | 'updateNode' | 'removeNode' | 'demoteNode'>;

/** Who leads and which managers hold their candidacy now, as the answering manager's election last read it. */
export type LiveManagers = () => { leaderId: string | undefined; candidateIds: ReadonlySet<string> };

const noLiveManagers: LiveManagers = () => ({ leaderId: undefined, candidateIds: new Set() });

/**
 * Nodes in the control API: their availability and labels, and their removal from the cluster; the managers
 * listed with them, and demoted.
 */
export function nodeControl(store: Store, handle: Handle, live: LiveManagers = noLiveManagers): NodeHandlers {
  return {
    listNodes: handle(async () => {
      const [nodes, managers] = await Promise.all([store.list('nodes'), store.list('managers')]);
      return {
        nodes: nodes.items.map((n) => n.value),
        managers: managerStates(managers.items, live()),
        warnings: managerCountWarnings(managers.items.map((m) => m.value)),
      };
    }),
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
      // A worker first (as before managers were listed); a manager when no worker goes by that name.
      const worker = await resolveNode(store, request.node).catch((err: unknown) => {
        if (err instanceof FlotillaError && err.code === Code.NotFound) return undefined;
        throw err;
      });
      const manager = worker ? undefined : await findManager(store, request.node);
      if (manager) {
        if (!manager.value.demoted && !request.force) {
          throw new FlotillaError(
            Code.FailedPrecondition,
            `${manager.id} is a manager: demote it first (flotilla node demote ${manager.id}), or use --force to ` +
              'forget it (a manager that is still running keeps running)',
          );
        }
        // Forgotten and, unless demotion did it already, its manager certificate revoked in one transaction.
        const revoke = manager.value.demoted
          ? []
          : await revocationWrites(store, { subjectId: manager.id, role: 'manager', reason: 'manager removed' });
        await store.batch([{ op: 'delete', kind: 'managers', id: manager.id, version: manager.version }, ...revoke]);
        return {};
      }
      const node = worker ?? (await resolveNode(store, request.node));
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
    demoteNode: handle(async (request) => ({ manager: await demote(store, request.node) })),
  };
}

/**
 * Demotion: the manager's record says so, and the manager itself, seeing it, resigns, leaves the control plane and
 * stops. The last manager is never demoted: the cluster would have nobody to take orders.
 */
async function demote(store: Store, ref: string): Promise<Manager> {
  const manager = await findManager(store, ref);
  if (!manager) {
    const node = await resolveNode(store, ref).catch(() => undefined);
    throw new FlotillaError(
      node ? Code.FailedPrecondition : Code.NotFound,
      node
        ? `${node.id} is a worker, not a manager: there is nothing to demote`
        : `no manager ${JSON.stringify(ref)}: see flotilla node ls`,
    );
  }
  if (manager.value.demoted) return manager.value;
  const others = (await store.list('managers')).items.filter((m) => m.id !== manager.id && !m.value.demoted);
  if (others.length === 0) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${manager.id} is the last manager: demoting it would leave the cluster without a control plane; add a ` +
        'manager first (flotilla join-token manager)',
    );
  }
  // Demoted and its manager certificate revoked in one transaction: every manager refuses that certificate from
  // the next call (the demoted one stops within a second of reading its record).
  const value: Manager = { ...manager.value, demoted: true, updatedAtMs: BigInt(Date.now()) };
  const revoke = await revocationWrites(store, { subjectId: manager.id, role: 'manager', reason: 'manager demoted' });
  await store.batch([{ op: 'update', kind: 'managers', id: manager.id, value, version: manager.version }, ...revoke]);
  return value;
}

/** A manager by ID, unambiguous ID prefix, or hostname; undefined when none matches. */
async function findManager(store: Store, ref: string): Promise<Versioned<Manager> | undefined> {
  const exact = await byExactId(store, 'managers', ref);
  if (exact) return exact;
  const { items } = await store.list('managers');
  const matches = items.filter((m) => m.id.startsWith(ref) || m.value.hostname === ref);
  if (matches.length > 1) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${JSON.stringify(ref)} matches ${matches.length} managers: give more of the ID`,
    );
  }
  return matches[0];
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
