import {
  Code,
  type ControlServiceServer,
  checkReplicas,
  FlotillaError,
  isGlobalMode,
  isJobMode,
  jobLimits,
  jobProgress,
  newId,
  type Service,
  ServiceMode,
  ServiceSpec,
  type Task,
  TaskState,
  type UpdateServiceRequest,
} from '@flotilla/api';
import { newSpecVersion, rollback } from '@flotilla/orchestrator';
import type { Store, Unchanged, Versioned, Write } from '@flotilla/store';
import type { DataKey } from '../secrets/data-key.js';
import { admittedWrite, checkAdmission } from './admission/admission-check.js';
import { retryOnConflict } from './conflict-retry.js';
import { serviceName, taskChange } from './deploy/stack-changes.js';
import type { Handle } from './handler.js';
import { byExactId } from './lookup.js';
import { wholeSpecUpdate } from './whole-spec-update.js';

type ServiceHandlers = Pick<
  ControlServiceServer,
  | 'listServices'
  | 'getService'
  | 'scaleService'
  | 'updateService'
  | 'rollbackService'
  | 'removeService'
  | 'rebalanceService'
>;

/** Services in the control API: the desired state the orchestrators work from. */
export function serviceControl(store: Store, handle: Handle, dataKey?: DataKey): ServiceHandlers {
  return {
    listServices: handle(async (request) => {
      const [services, tasks] = await Promise.all([store.list('services'), store.list('tasks')]);
      const byService = groupTasks(tasks.items.map((t) => t.value));
      const byName = new Map(services.items.map((s) => [serviceName(s.value), s.value]));
      // A sidecar runs as many tasks as its main service (scaling the main does not rewrite the sidecar).
      const replicas = (s: Service) => {
        const main = s.spec?.sidecar ? byName.get(s.spec.sidecar.service) : undefined;
        return (main ?? s).spec?.replicas ?? 0n;
      };
      return {
        services: services.items
          .filter((s) => !request.stack || s.value.spec?.stack === request.stack)
          .sort((a, b) => serviceName(a.value).localeCompare(serviceName(b.value)))
          .map(({ value }) => {
            const own = byService.get(value.id) ?? [];
            if (isJobMode(value.spec?.mode)) return jobSummary(value, own);
            const meant = own.filter((t) => t.desiredState <= TaskState.TASK_STATE_RUNNING);
            const global = value.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL;
            return {
              service: value,
              running: BigInt(meant.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING).length),
              desired: global ? BigInt(new Set(meant.map((t) => t.nodeId)).size) : replicas(value),
              completed: 0n,
              completions: 0n,
            };
          }),
      };
    }),
    getService: handle(async (request) => ({ service: (await resolveService(store, request.service)).value })),
    scaleService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      refuseJob(found.value, 'scaled');
      if (found.value.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${serviceName(found.value)} is a global service: it runs one task per node and cannot be scaled`,
        );
      }
      refuseSidecarScale(found.value);
      checkReplicas(request.replicas, serviceName(found.value));
      // The number of replicas is not part of what a task runs: scaling does not touch running tasks.
      const scaled = await store.modify('services', found.id, (s) => ({
        ...s,
        spec: ServiceSpec.fromPartial({ ...s.spec, replicas: request.replicas }),
        updatedAtMs: BigInt(Date.now()),
      }));
      if (!scaled) throw new FlotillaError(Code.NotFound, `service ${request.service} was removed meanwhile`);
      return { service: scaled.value };
    }),
    updateService: handle(async (request) =>
      // The spec judged is the one written, under the policy as it stands when it is written.
      admittedWrite(`the update of service ${request.service}`, async () => {
        const found = await resolveService(store, request.service);
        let after: ServiceSpec;
        let pins: Write[] = [];
        if (request.spec) {
          const [services, networks, files] = await Promise.all([
            store.list('services'),
            store.list('networks'),
            store.list('files'),
          ]);
          const make = { now: BigInt(Date.now()), newId };
          const context = { services: services.items, networks: networks.items, files: files.items, dataKey, make };
          ({ spec: after, writes: pins } = wholeSpecUpdate(found.value, request, context));
        } else {
          after = updatedSpec(found.value, request);
        }
        // A service deployed under a looser profile is updated only once its spec passes the current one.
        const admitted = await checkAdmission(store, [after], `the update of ${serviceName(found.value)}`);
        const now = BigInt(Date.now());
        // A job runs again for each new version: --force reruns it as it is.
        const replaced = request.force || taskChange(found.value.spec, after) === 'replaced';
        // A new version rolls out (update_config); the one it replaces is what `service rollback` returns to.
        const next = replaced
          ? newSpecVersion(found.value, after, Number(now))
          : { ...found.value, spec: after, updatedAtMs: now };
        await writeAdmitted(store, found, next, admitted, pins);
        return { service: next, tasksReplaced: replaced };
      }),
    ),
    rollbackService: handle(async (request) =>
      admittedWrite(`the rollback of service ${request.service}`, async () => {
        const found = await resolveService(store, request.service);
        if (!found.value.previousSpec) {
          throw new FlotillaError(
            Code.FailedPrecondition,
            `${serviceName(found.value)} has no previous spec to roll back to: it was never updated`,
          );
        }
        const admitted = await checkAdmission(
          store,
          [found.value.previousSpec],
          `the rollback of ${serviceName(found.value)}`,
        );
        const next = rollback(found.value, Date.now(), 'rollback requested by the operator');
        await writeAdmitted(store, found, next, admitted);
        return { service: next };
      }),
    ),
    rebalanceService: handle(async (request) => {
      const found = await resolveService(store, request.service);
      refuseJob(found.value, 'rebalanced');
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
    // Read and removed again when the service changed in between (the leader's loops write it).
    removeService: handle((request) =>
      retryOnConflict(
        async () => {
          const found = await resolveService(store, request.service);
          await store.delete('services', found.id, found.version);
          return { id: found.id };
        },
        (n) =>
          `service ${request.service} kept changing while it was removed (${n} tries); it was not removed: run it again`,
      ),
    ),
  };
}

/** The service as `next`, if it is still as it was read and the policy it was judged under still stands. */
async function writeAdmitted(
  store: Store,
  found: Versioned<Service>,
  next: Service,
  admitted: Unchanged,
  /** Writes that go with it (the secret and config versions it newly names, pinned). */
  also: Write[] = [],
): Promise<void> {
  await store.batch([...also, { op: 'update', kind: 'services', id: found.id, value: next, version: found.version }], {
    atomic: { what: `the write of ${serviceName(found.value)}`, unchanged: [admitted] },
  });
}

/** A service by ID, unambiguous ID prefix, or name. */
export async function resolveService(store: Store, ref: string): Promise<Versioned<Service>> {
  const exact = await byExactId(store, 'services', ref);
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
  if (request.replicas !== undefined && isGlobalMode(spec.mode)) {
    throw new FlotillaError(Code.FailedPrecondition, `${serviceName(service)} is global: it cannot be scaled`);
  }
  if (request.replicas !== undefined) refuseSidecarScale(service);
  if (request.replicas !== undefined) checkReplicas(request.replicas, serviceName(service));
  return ServiceSpec.fromPartial({
    ...spec,
    container,
    ...(request.replicas !== undefined
      ? { replicas: request.replicas, ...jobWithReplicas(spec, request.replicas) }
      : {}),
  });
}

/** A job's limits that were its replica count (the stack file's defaults) follow a new one. */
function jobWithReplicas(spec: ServiceSpec, replicas: bigint): Partial<ServiceSpec> {
  if (!spec.job) return {};
  const follow = (v: bigint) => (v === spec.replicas ? replicas : v);
  return {
    job: { maxConcurrent: follow(spec.job.maxConcurrent), totalCompletions: follow(spec.job.totalCompletions) },
  };
}

/**
 * Swarm refuses to scale a job: its replicas are the run's parallelism and completions, set in the stack file
 * (or with `service update --replicas`, which starts a new run).
 */
function refuseJob(service: Service, what: string): void {
  if (!isJobMode(service.spec?.mode)) return;
  throw new FlotillaError(
    Code.FailedPrecondition,
    `${serviceName(service)} is a job and cannot be ${what}: change its replicas or x-flotilla max_concurrent/total_completions in the stack file and deploy it again (a new run of the job)`,
  );
}

/** A job's line: tasks running out of max_concurrent (or nodes), and completions out of those needed. */
function jobSummary(service: Service, tasks: Task[]) {
  const progress = jobProgress(service, tasks);
  const global = service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
  return {
    service,
    running: BigInt(progress.running),
    desired: global ? BigInt(progress.total) : jobLimits(service.spec).maxConcurrent,
    completed: BigInt(progress.completed),
    completions: BigInt(progress.total),
  };
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

/** A sidecar runs one task beside each task of its main service: its count is the main's. */
function refuseSidecarScale(service: Service): void {
  const main = service.spec?.sidecar?.service;
  if (!main) return;
  throw new FlotillaError(
    Code.FailedPrecondition,
    `${serviceName(service)} is a sidecar of ${main}: it runs one task beside each task of ${main}; scale ${main} instead`,
  );
}
