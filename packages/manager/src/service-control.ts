import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  newId,
  type Service,
  ServiceChange_Action,
  ServiceMode,
  ServiceSpec,
  type StackSpec,
  type Task,
  TaskState,
  type UpdateServiceRequest,
} from '@flotilla/api';
import { newSpecVersion, rollback } from '@flotilla/orchestrator';
import type { Store, Versioned, Write } from '@flotilla/store';
import type { Handle } from './control-service.js';
import {
  decideStack,
  networkWrites,
  type ServiceDecision,
  STACK_LABEL,
  serviceName,
  taskChange,
} from './stack-changes.js';

type ServiceHandlers = Pick<
  ControlServiceServer,
  | 'deployStack'
  | 'listStacks'
  | 'removeStack'
  | 'listServices'
  | 'getService'
  | 'scaleService'
  | 'updateService'
  | 'rollbackService'
  | 'removeService'
  | 'rebalanceService'
  | 'listTasks'
>;

/** Stacks, services and tasks in the control API: the desired state the orchestrators work from. */
export function serviceControl(store: Store, handle: Handle): ServiceHandlers {
  return {
    deployStack: handle(async (request) => {
      if (!request.stack) throw new FlotillaError(Code.InvalidArgument, 'no stack in the request');
      return { changes: await deployStack(store, request.stack, request.prune) };
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
    removeStack: handle(async (request) => {
      const services = (await store.list('services')).items.filter((s) => s.value.spec?.stack === request.name);
      if (services.length === 0) {
        throw new FlotillaError(Code.NotFound, `nothing found in stack ${request.name}: see flotilla stack ls`);
      }
      // The stack's networks go with it: their addresses are released as the tasks end, then their subnets.
      const networks = (await store.list('networks')).items.filter(
        (n) => n.value.spec?.annotations?.labels[STACK_LABEL] === request.name && !n.value.ingress,
      );
      await store.batch([
        ...services.map((s): Write => ({ op: 'delete', kind: 'services', id: s.id, version: s.version })),
        ...networks.map((n): Write => ({ op: 'delete', kind: 'networks', id: n.id, version: n.version })),
      ]);
      return { removed: services.map((s) => s.value.spec?.annotations?.name ?? s.id) };
    }),
    listServices: handle(async (request) => {
      const [services, tasks] = await Promise.all([store.list('services'), store.list('tasks')]);
      const byService = groupTasks(tasks.items.map((t) => t.value));
      return {
        services: services.items
          .filter((s) => !request.stack || s.value.spec?.stack === request.stack)
          .sort((a, b) => serviceName(a.value).localeCompare(serviceName(b.value)))
          .map(({ value }) => {
            const own = byService.get(value.id) ?? [];
            const meant = own.filter((t) => t.desiredState <= TaskState.TASK_STATE_RUNNING);
            const global = value.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL;
            return {
              service: value,
              running: BigInt(meant.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING).length),
              desired: global ? BigInt(new Set(meant.map((t) => t.nodeId)).size) : (value.spec?.replicas ?? 0n),
            };
          }),
      };
    }),
    getService: handle(async (request) => ({ service: (await resolveService(store, request.service)).value })),
    scaleService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      if (found.value.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${serviceName(found.value)} is a global service: it runs one task per node and cannot be scaled`,
        );
      }
      // The number of replicas is not part of what a task runs: scaling does not touch running tasks.
      const scaled = await store.modify('services', found.id, (s) => ({
        ...s,
        spec: ServiceSpec.fromPartial({ ...s.spec, replicas: request.replicas }),
        updatedAtMs: BigInt(Date.now()),
      }));
      if (!scaled) throw new FlotillaError(Code.NotFound, `service ${request.service} was removed meanwhile`);
      return { service: scaled.value };
    }),
    updateService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      const now = BigInt(Date.now());
      let replaced = false;
      const updated = await store.modify('services', found.id, (s) => {
        const before = s.spec;
        const after = updatedSpec(s, request);
        replaced = request.force || taskChange(before, after) === 'replaced';
        // A new version rolls out (update_config); the one it replaces is what `service rollback` returns to.
        return replaced ? newSpecVersion(s, after, Number(now)) : { ...s, spec: after, updatedAtMs: now };
      });
      if (!updated) throw new FlotillaError(Code.NotFound, `service ${request.service} was removed meanwhile`);
      return { service: updated.value, tasksReplaced: replaced };
    }),
    rollbackService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      if (!found.value.previousSpec) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${serviceName(found.value)} has no previous spec to roll back to: it was never updated`,
        );
      }
      const rolled = await store.modify('services', found.id, (s) =>
        rollback(s, Date.now(), 'rollback requested by the operator'),
      );
      if (!rolled) throw new FlotillaError(Code.NotFound, `service ${request.service} was removed meanwhile`);
      return { service: rolled.value };
    }),
    rebalanceService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      if (found.value.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${serviceName(found.value)} is global: it has one task per node`,
        );
      }
      // The leader's orchestrator sees the new request time and evens the service out, one task at a time.
      const asked = await store.modify('services', found.id, (s) => ({
        ...s,
        rebalanceRequestedAtMs: BigInt(Date.now()),
      }));
      if (!asked) throw new FlotillaError(Code.NotFound, `service ${request.service} was removed meanwhile`);
      return { service: asked.value };
    }),
    removeService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      await store.delete('services', found.id, found.version);
      return { id: found.id };
    }),
    listTasks: handle(async (request) => {
      const [services, tasks, nodes] = await Promise.all([
        store.list('services'),
        store.list('tasks'),
        store.list('nodes'),
      ]);
      const wanted = request.service ? new Set([(await resolveService(store, request.service)).id]) : undefined;
      const inStack = request.stack
        ? new Set(services.items.filter((s) => s.value.spec?.stack === request.stack).map((s) => s.id))
        : undefined;
      if (inStack?.size === 0) {
        throw new FlotillaError(Code.NotFound, `nothing found in stack ${request.stack}: see flotilla stack ls`);
      }
      const nodeNames = Object.fromEntries(nodes.items.map((n) => [n.id, n.value.description?.hostname ?? n.id]));
      const nodeId = request.node
        ? nodes.items.find((n) => n.id === request.node || n.value.description?.hostname === request.node)?.id
        : undefined;
      if (request.node && !nodeId) throw new FlotillaError(Code.NotFound, `no node ${request.node}: see node ls`);
      const selected = tasks.items
        .map((t) => t.value)
        .filter((t) => (!wanted || wanted.has(t.serviceId)) && (!inStack || inStack.has(t.serviceId)))
        .filter((t) => !nodeId || t.nodeId === nodeId)
        .sort(taskOrder);
      return { tasks: selected, nodeNames };
    }),
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
 * service's spec version goes up only when something its tasks run changes (not for a new replica count).
 */
export async function deployStack(store: Store, stack: StackSpec, prune: boolean) {
  const [existing, networks] = await Promise.all([store.list('services'), store.list('networks')]);
  const make = { now: BigInt(Date.now()), newId };
  const decisions = decideStack(existing.items, stack, prune, make);
  // Networks first in the same transaction: the services' tasks wait for them to have subnets.
  const writes = [
    ...networkWrites(networks.items, stack, make),
    ...decisions.flatMap((d) => (d.write ? [d.write] : [])),
  ];
  if (writes.length > 0) await store.batch(writes);
  return decisions.map((d) => ({ name: d.name, id: d.id, action: ACTIONS[d.action] }));
}

/** A service by ID, unambiguous ID prefix, or name. */
export async function resolveService(store: Store, ref: string): Promise<Versioned<Service>> {
  const exact = ref ? await store.get('services', ref).catch(() => undefined) : undefined;
  if (exact) return exact;
  const { items } = await store.list('services');
  const byName = items.find((s) => serviceName(s.value) === ref);
  if (byName) return byName;
  const matches = items.filter((s) => ref && s.id.startsWith(ref));
  if (matches.length === 1) return matches[0] as Versioned<Service>;
  if (matches.length === 0) {
    throw new FlotillaError(Code.NotFound, `no service ${JSON.stringify(ref)}: see flotilla service ls`);
  }
  throw new FlotillaError(Code.FailedPrecondition, `${JSON.stringify(ref)} matches ${matches.length} services`);
}

function groupTasks(tasks: Task[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = out.get(t.serviceId);
    if (list) list.push(t);
    else out.set(t.serviceId, [t]);
  }
  return out;
}

/** Service, then slot (or node), newest task first, as `docker service ps` lists them. */
function taskOrder(a: Task, b: Task): number {
  return (
    a.serviceName.localeCompare(b.serviceName) ||
    (a.slot === b.slot ? 0 : a.slot < b.slot ? -1 : 1) ||
    a.nodeId.localeCompare(b.nodeId) * (a.slot === 0n ? 1 : 0) ||
    (a.createdAtMs === b.createdAtMs ? 0 : a.createdAtMs > b.createdAtMs ? -1 : 1)
  );
}

/** The spec `service update` asks for: the current one with only what the request sets changed. */
export function updatedSpec(service: Service, request: UpdateServiceRequest): ServiceSpec {
  const spec = ServiceSpec.fromPartial(service.spec ?? {});
  const container = { ...spec.container! };
  if (request.image !== undefined) {
    if (!request.image.trim()) throw new FlotillaError(Code.InvalidArgument, '--image needs an image reference');
    container.image = request.image;
  }
  if (request.envAdd.length > 0 || request.envRm.length > 0) {
    const env = new Map(container.env.map((e) => [e.split('=')[0] as string, e]));
    for (const key of request.envRm) env.delete(key);
    for (const entry of request.envAdd) {
      const key = entry.split('=')[0] ?? '';
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || !entry.includes('=')) {
        throw new FlotillaError(Code.InvalidArgument, `--env-add takes KEY=VALUE, got "${entry}"`);
      }
      env.set(key, entry);
    }
    container.env = [...env.values()].sort();
  }
  if (request.replicas !== undefined && spec.mode === ServiceMode.SERVICE_MODE_GLOBAL) {
    throw new FlotillaError(Code.FailedPrecondition, `${serviceName(service)} is global: it cannot be scaled`);
  }
  return ServiceSpec.fromPartial({
    ...spec,
    container,
    ...(request.replicas !== undefined ? { replicas: request.replicas } : {}),
  });
}
