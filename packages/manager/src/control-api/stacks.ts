import {
  Code,
  type ControlServiceServer,
  FileObjectSpec,
  FlotillaError,
  fileObjectIds,
  NetworkSpec,
  newId,
  type ServiceChange,
  ServiceChange_Action,
  type ServiceSpec,
  type StackSpec,
} from '@flotilla/api';
import type { Store, Write } from '@flotilla/store';
import type { DataKey } from '../secrets/data-key.js';
import { admittedWrite, checkAdmission } from './admission/admission-check.js';
import { retryOnConflict } from './conflict-retry.js';
import { resolveFileObjects } from './deploy/file-object-versions.js';
import { decideStack, networkWrites, type ServiceDecision, STACK_LABEL } from './deploy/stack-changes.js';
import { planStack } from './deploy/stack-plan.js';
import type { Handle } from './handler.js';

type StackHandlers = Pick<
  ControlServiceServer,
  'deployStack' | 'planStack' | 'listStacks' | 'removeStack' | 'createService'
>;

/** Stacks in the control API: deployed whole (or planned first), listed, removed with their networks. */
export function stackControl(store: Store, handle: Handle, dataKey?: DataKey): StackHandlers {
  return {
    deployStack: handle(async (request) => {
      if (!request.stack) throw new FlotillaError(Code.InvalidArgument, 'no stack in the request');
      return { changes: await deployStack(store, request.stack, request.prune, dataKey) };
    }),
    createService: handle(async (request) => {
      if (!request.spec) throw new FlotillaError(Code.InvalidArgument, 'no service spec in the request');
      const [created] = await deployStack(store, standaloneStack(request.spec), false, dataKey, true);
      const stored = created && (await store.get('services', created.id));
      if (!stored) throw new FlotillaError(Code.NotFound, 'the new service was removed before it could be read');
      return { service: stored.value };
    }),
    // A read: any manager answers, and the plan is given only the store's read methods.
    planStack: handle(async (request) => {
      if (!request.stack) throw new FlotillaError(Code.InvalidArgument, 'no stack in the request');
      return planStack(
        { list: store.list.bind(store), get: store.get.bind(store) },
        request.stack,
        request.prune,
        dataKey,
      );
    }),
    listStacks: handle(async () => {
      const counts = new Map<string, number>();
      for (const { value } of (await store.list('services')).items) {
        const stack = value.spec?.stack;
        if (stack) counts.set(stack, (counts.get(stack) ?? 0) + 1);
      }
      const stacks = [...counts].sort(([a], [b]) => a.localeCompare(b));
      return { stacks: stacks.map(([name, services]) => ({ name, services })) };
    }),
    // Read and removed again when a service or network changed in between (the leader's loops write them).
    removeStack: handle((request) =>
      retryOnConflict(
        async () => {
          const services = (await store.list('services')).items.filter((s) => s.value.spec?.stack === request.name);
          if (services.length === 0) {
            throw new FlotillaError(Code.NotFound, `nothing found in stack ${request.name}: see flotilla stack ls`);
          }
          // The stack's networks go with it: their addresses are released as the tasks end, then their subnets.
          const networks = (await store.list('networks')).items.filter(
            (n) => n.value.spec?.annotations?.labels[STACK_LABEL] === request.name && !n.value.ingress,
          );
          await store.batch(
            [
              ...services.map((s): Write => ({ op: 'delete', kind: 'services', id: s.id, version: s.version })),
              ...networks.map((n): Write => ({ op: 'delete', kind: 'networks', id: n.id, version: n.version })),
            ],
            { atomic: { what: `the removal of stack ${request.name}` } },
          );
          return { removed: services.map((s) => s.value.spec?.annotations?.name ?? s.id) };
        },
        (n) =>
          `stack ${request.name} kept changing while it was removed (${n} tries); nothing was removed: run it again`,
      ),
    ),
  };
}

const ACTIONS: Record<ServiceDecision['action'], ServiceChange_Action> = {
  create: ServiceChange_Action.ACTION_CREATED,
  update: ServiceChange_Action.ACTION_UPDATED,
  unchanged: ServiceChange_Action.ACTION_UNCHANGED,
  remove: ServiceChange_Action.ACTION_REMOVED,
};

/**
 * Creates and updates a stack's services in one transaction, so a deploy is applied whole or not at all. A
 * service's spec version goes up only when something its tasks run changes (not for a new replica count). The
 * stack's secrets and configs are stored in the same transaction (a new version, sealed with `dataKey`, only for a
 * changed content), and each service names the version it uses: a changed content rolls the services using it. The
 * transaction also requires the admission policy unchanged since the deploy was judged: when it (or a service,
 * network or secret the deploy read) changed meanwhile, the deploy is read, judged and decided again.
 */
export async function deployStack(
  store: Store,
  stack: StackSpec,
  prune: boolean,
  dataKey?: DataKey,
  standalone = false,
): Promise<ServiceChange[]> {
  const what = standalone
    ? `the creation of service ${stack.services[0]?.annotations?.name}`
    : `the deploy of stack ${stack.name}`;
  return admittedWrite(what, async () => {
    // Every service of the request, changed or not: the same files get the same answer under the same profile.
    const admitted = await checkAdmission(store, stack.services, what);
    const [existing, networks, files] = await Promise.all([
      store.list('services'),
      store.list('networks'),
      store.list('files'),
    ]);
    const make = { now: BigInt(Date.now()), newId };
    const inUse = new Set(existing.items.flatMap((s) => fileObjectIds(s.value.spec?.container)));
    const objects = resolveFileObjects(files.items, stack, dataKey, make, inUse);
    const decisions = decideStack(existing.items, objects.stack, prune, make, standalone);
    const joined = new Set(decisions.flatMap((d) => d.next?.spec?.networks.map((n) => n.target) ?? []));
    // Networks and secrets/configs first in the same transaction: the services' tasks need them.
    const writes = [
      ...networkWrites(networks.items, stack, make, joined),
      ...objects.writes,
      ...decisions.flatMap((d) => (d.write ? [d.write] : [])),
    ];
    if (writes.length > 0) await store.batch(writes, { atomic: { what, unchanged: [admitted] } });
    return decisions.map((d) => ({ name: d.name, id: d.id, action: ACTIONS[d.action] }));
  });
}

/**
 * A service created alone, as a stack of one with no name: the deploy's admission, checks and transaction apply to
 * it unchanged. The networks, secrets and configs it names are external (it makes none): the deploy refuses one
 * that does not exist, and the request can carry no secret content.
 */
function standaloneStack(spec: ServiceSpec): StackSpec {
  const annotations = (name: string) => ({ name, labels: {} });
  const files = (refs: readonly { source: string }[]) =>
    [...new Set(refs.map((r) => r.source))].map((name) =>
      FileObjectSpec.fromPartial({ annotations: annotations(name), external: true }),
    );
  return {
    name: '',
    services: [spec],
    networks: [...new Set(spec.networks.map((n) => n.target))].map((name) =>
      NetworkSpec.fromPartial({ annotations: annotations(name), external: true }),
    ),
    volumes: [],
    configs: files(spec.container?.configs ?? []),
    secrets: files(spec.container?.secrets ?? []),
  };
}
