import { PortConfig_PublishMode, type Service, type Task, TaskState } from '@flotilla/api';
import { type ReconcileContext, serviceName } from './plan.js';

/**
 * A new task for a slot (replicated) or a node (global), from the service's current spec, waiting for placement.
 * Only the time and the ID come from the context: the plan preview makes its tasks here too.
 */
export function newTask(
  service: Service,
  ctx: Pick<ReconcileContext, 'now' | 'newId'>,
  where: { slot: bigint; nodeId?: string },
  restart: { history: bigint[]; consecutiveFailures: number } = { history: [], consecutiveFailures: 0 },
): Task {
  const now = BigInt(ctx.now);
  const spec = service.spec;
  // A task that joins networks first gets its addresses from the allocator, which then hands it on (pending).
  const waitsForAddresses = needsAddresses(service);
  return {
    id: ctx.newId(),
    serviceId: service.id,
    slot: where.slot,
    nodeId: where.nodeId ?? '',
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: {
      state: waitsForAddresses ? TaskState.TASK_STATE_NEW : TaskState.TASK_STATE_PENDING,
      timestampMs: now,
      message: waitsForAddresses ? 'waiting for addresses' : 'waiting for placement',
      error: '',
      exitCode: 0,
    },
    specVersion: service.specVersion,
    spec: spec?.container,
    createdAtMs: now,
    updatedAtMs: now,
    resources: spec?.resources,
    placement: spec?.placement,
    hostPorts: (spec?.endpoint?.ports ?? []).filter(
      (p) => p.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST && p.publishedPort > 0,
    ),
    serviceName: serviceName(service),
    restartHistoryMs: restart.history,
    consecutiveFailures: restart.consecutiveFailures,
    networks: [],
    disconnect: spec?.disconnect,
    mainTaskId: '',
    logDriver: spec?.logDriver,
  };
}

/** Whether tasks of a service join networks (its own, or the ingress network for a published port). */
export function needsAddresses(service: Service): boolean {
  const spec = service.spec;
  if (!spec || spec.container?.hostNetwork) return false;
  const ingress = (spec.endpoint?.ports ?? []).some((p) => p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST);
  return spec.networks.length > 0 || ingress;
}
