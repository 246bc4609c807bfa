import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  type Manager,
  type Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  type Promotion,
  type RemoveNodeResponse,
} from '@flotilla/api';
import type { Store, Versioned, Write } from '@flotilla/store';
import { managerCountWarnings, managerStates } from '../cluster/manager-records.js';
import { recordPromotion, roleWrite, withoutSecrets } from '../cluster/promotions.js';
import { revocationWrites } from '../cluster/revocations.js';
import type { Handle } from './handler.js';
import { byExactId } from './lookup.js';

type NodeHandlers = Pick<
  ControlServiceServer,
  'listNodes' | 'getNode' | 'updateNode' | 'removeNode' | 'demoteNode' | 'promoteNode'
>;

/** Who leads and which managers hold their candidacy now, as the answering manager's election last read it. */
export type LiveManagers = () => { leaderId: string | undefined; candidateIds: ReadonlySet<string> };

const noLiveManagers: LiveManagers = () => ({ leaderId: undefined, candidateIds: new Set() });

/** What `node promote` needs of the leader: its sessions with the nodes, its address, the CA the token names. */
export interface NodePromotions {
  /** Where the node's agent would serve a manager; undefined: no session with this leader, "": it cannot. */
  managerAddress(nodeId: string): string | undefined;
  /** Sends the promotion over the node's session; false when it has none. */
  send(nodeId: string, promotion: Omit<Promotion, 'logs'>): boolean;
  /** This manager's address, while it leads: where the new manager joins through. */
  joinAddress(): string | undefined;
  caFingerprint(): string;
}

/**
 * Nodes in the control API: their availability and labels, and their removal from the cluster; the managers
 * listed with them, and demoted.
 */
export function nodeControl(
  store: Store,
  handle: Handle,
  live: LiveManagers = noLiveManagers,
  promotions?: NodePromotions,
): NodeHandlers {
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
      // A promoted node's manager goes with it: demoted and its certificate revoked, it stops itself.
      const promoted = (await store.list('managers')).items.find((m) => m.value.nodeId === node.id && !m.value.demoted);
      if (promoted && !request.force) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `node ${node.id} runs manager ${promoted.id}: demote it first (flotilla node demote ${node.id}), or use --force`,
        );
      }
      if (node.value.status?.state === NodeStatus_State.STATE_READY && !request.force) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `node ${node.id} is ready: drain it (node update --availability drain) and stop its agent, or use --force`,
        );
      }
      const demoted = promoted
        ? [
            {
              op: 'update',
              kind: 'managers',
              id: promoted.id,
              value: { ...promoted.value, demoted: true, updatedAtMs: BigInt(Date.now()) },
              version: promoted.version,
            } satisfies Write,
            ...(await revocationWrites(store, { subjectId: promoted.id, role: 'manager', reason: 'node removed' })),
          ]
        : [];
      // Removed and revoked in one transaction: every manager refuses its certificates from the next call, and
      // the leader's dispatcher sees the delete and ends the node's session.
      const revoke = await revocationWrites(store, { subjectId: node.id, reason: 'node removed' });
      // Both revocations may prune the same expired ones: each key once in the transaction.
      const writes = [
        ...new Map(
          [{ op: 'delete', kind: 'nodes', id: node.id } as Write, ...revoke, ...demoted].map((w) => [
            `${w.kind}/${w.id}`,
            w,
          ]),
        ).values(),
      ];
      await store.batch(writes, { atomic: { what: 'a node removal' } });
      return {};
    }),
    demoteNode: handle(async (request) => ({ manager: withoutSecrets(await demote(store, request.node)) })),
    promoteNode: handle(async (request) => ({
      manager: withoutSecrets(await promote(store, request.node, promotions)),
    })),
  };
}

/**
 * Promotion: a manager record for the node, with the hash of a one-time credential, then the credential sent over
 * the node's session; its agent starts a manager that joins with it (its tasks run on). Refused, saying what to
 * do, for a node that is not connected, whose agent cannot run a manager, or that is a manager already.
 */
async function promote(store: Store, ref: string, promotions: NodePromotions | undefined): Promise<Manager> {
  const node = await resolveNode(store, ref);
  const name = node.value.description?.hostname || node.id;
  const managers = (await store.list('managers')).items;
  const current = managers.find((m) => m.value.nodeId === node.id && !m.value.demoted);
  if (current) {
    throw new FlotillaError(
      Code.AlreadyExists,
      `node ${name} is a manager already (manager ${current.id}); to make it a worker again: flotilla node demote ${current.id}`,
    );
  }
  const joinAddress = promotions?.joinAddress();
  if (!promotions || !joinAddress) {
    throw new FlotillaError(Code.Unavailable, 'no leader is elected right now: retry in a few seconds');
  }
  const managerAddress = promotions.managerAddress(node.id);
  if (managerAddress === undefined || node.value.status?.state !== NodeStatus_State.STATE_READY) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `node ${name} is down (no session with the leader): start its agent (with --manager-listen HOST:PORT) and promote it again`,
    );
  }
  if (managerAddress === '') {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `node ${name}'s agent cannot run a manager: restart it with --manager-listen HOST:PORT (where that manager ` +
        'serves; --etcd-listen-client and --etcd-listen-peer for its etcd member), then promote it again',
    );
  }
  const hostname = node.value.description?.hostname ?? '';
  const made = await recordPromotion(
    store,
    { id: node.id, hostname, managerAddress },
    promotions.caFingerprint(),
    Date.now(),
    [roleWrite(node, NodeSpec_Role.ROLE_MANAGER)],
  );
  if (!promotions.send(node.id, { token: made.token, joinAddress, managerId: made.manager.id })) {
    // The session ended meanwhile: no record of a promotion the node never heard of, and its role as it was.
    const now = await store.get('nodes', node.id);
    await store.batch([
      { op: 'delete', kind: 'managers', id: made.manager.id },
      ...(now ? [roleWrite(now, node.value.spec?.role ?? NodeSpec_Role.ROLE_WORKER)] : []),
    ]);
    throw new FlotillaError(
      Code.Unavailable,
      `node ${name} lost its session while being promoted: promote it again once it is ready`,
    );
  }
  return made.manager;
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
  // A promoted node is a worker again (its agent runs on).
  const node = manager.value.nodeId ? await store.get('nodes', manager.value.nodeId) : undefined;
  await store.batch([
    { op: 'update', kind: 'managers', id: manager.id, value, version: manager.version },
    ...revoke,
    ...(node ? [roleWrite(node, NodeSpec_Role.ROLE_WORKER)] : []),
  ]);
  return value;
}

/** A manager by ID, unambiguous ID prefix, or hostname; undefined when none matches. */
async function findManager(store: Store, ref: string): Promise<Versioned<Manager> | undefined> {
  const exact = await byExactId(store, 'managers', ref);
  if (exact) return exact;
  const { items } = await store.list('managers');
  // A promoted node's manager also goes by its node's ID (the manager that is not demoted, if there are several).
  const matches = items.filter(
    (m) => m.id.startsWith(ref) || m.value.hostname === ref || (m.value.nodeId.startsWith(ref) && !m.value.demoted),
  );
  // A node promoted, demoted and promoted again: its name means the manager it has now.
  const live = matches.filter((m) => !m.value.demoted);
  const chosen = matches.length > 1 && live.length === 1 ? live : matches;
  if (chosen.length > 1) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${JSON.stringify(ref)} matches ${chosen.length} managers: give more of the ID`,
    );
  }
  return chosen[0];
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
