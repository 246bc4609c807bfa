import {
  type HealthCheck,
  runsCurrentSpec,
  type Service,
  type ServiceSpec,
  type Task,
  TaskHealth,
  TaskState,
  taskFailed,
  taskLive,
  type UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateStatus_State,
} from '@flotilla/api';
import type { ReconcileContext } from './plan.js';

const NS_PER_MS = 1_000_000n;

/** What the rolling update of one service allows this round. */
export interface UpdateStep {
  /** How many more slots may start moving to the current spec now (Infinity: no limit). */
  budget: number;
  /** Whether a live task runs an older spec than the service's and is to be replaced. */
  outdated: (task: Task) => boolean;
  /** The service as it must be written back (update status, or the previous spec on a rollback). */
  service?: Service;
  /** When to look again (a monitor period or a delay ending). */
  wakeAt?: number;
}

const ACTIVE = new Set([UpdateStatus_State.STATE_UPDATING, UpdateStatus_State.STATE_ROLLBACK_STARTED]);
const PAUSED = new Set([UpdateStatus_State.STATE_PAUSED, UpdateStatus_State.STATE_ROLLBACK_PAUSED]);

/**
 * The rolling update of a replicated service, as a pure decision over its tasks (swarmkit's updater, made
 * level-triggered so that a new leader simply carries on from the service object and the tasks):
 * - a task made from an older spec version is outdated;
 * - at most `parallelism` slots are in motion at once (0: all), a slot being in motion from the moment its new
 *   task is made until that task has run for `monitor` (and is healthy, where it has a healthcheck);
 * - after a batch has settled, the next waits `delay`;
 * - new tasks that fail during the update count against `max_failure_ratio`; past it, `failure_action` applies:
 *   pause, continue, or roll back to the previous spec (with `rollback_config`).
 * Progress is kept in the service's `update_status`, tied to the spec version being rolled out.
 */
export function updateStep(service: Service, tasks: Task[], ctx: ReconcileContext, size?: number): UpdateStep {
  const version = service.specVersion;
  // Replicated: the replicas; global: the nodes it runs on (its slots are all 0).
  const replicas = size ?? Number(service.spec?.replicas ?? 1n);
  // Tasks of an older version that a rollback brought back run what this version runs: they are not replaced.
  const outdated = (t: Task) => taskLive(t) && !runsCurrentSpec(service, t) && t.slot <= BigInt(replicas);
  const status = service.updateStatus;
  const rollingBack =
    status?.specVersion === version &&
    (status.state === UpdateStatus_State.STATE_ROLLBACK_STARTED ||
      status.state === UpdateStatus_State.STATE_ROLLBACK_PAUSED ||
      status.state === UpdateStatus_State.STATE_ROLLBACK_COMPLETED);
  const config = (rollingBack ? service.spec?.rollbackConfig : service.spec?.updateConfig) ?? undefined;
  const anyOutdated = tasks.some(outdated);

  // No update under way for this version: one starts when there is something to replace.
  if (status?.specVersion !== version) {
    if (!anyOutdated) return { budget: Number.POSITIVE_INFINITY, outdated };
    return {
      budget: 0,
      outdated,
      service: withStatus(service, UpdateStatus_State.STATE_UPDATING, ctx.now, 'update in progress', true),
    };
  }
  if (PAUSED.has(status.state)) return { budget: 0, outdated };
  if (!ACTIVE.has(status.state)) return { budget: Number.POSITIVE_INFINITY, outdated };

  const startedAt = Number(status.startedAtMs);
  const monitorMs = Number((config?.monitorNs ?? 0n) / NS_PER_MS);
  const delayMs = Number((config?.delayNs ?? 0n) / NS_PER_MS);
  const current = tasks.filter((t) => t.specVersion === version && t.createdAtMs >= BigInt(startedAt));

  // Failures of the new version since the update began.
  const failures = current.filter((t) => taskFailed(t));
  const ratio = replicas > 0 ? failures.length / replicas : 0;
  const action = config?.failureAction ?? UpdateConfig_FailureAction.FAILURE_ACTION_PAUSE;
  if (failures.length > 0 && ratio > (config?.maxFailureRatio ?? 0) && !continues(action)) {
    const why = failures.at(-1)?.status?.error || failures.at(-1)?.status?.message || 'a task failed';
    const summary = `${failures.length} of ${replicas} new tasks failed (${why})`;
    if (action === UpdateConfig_FailureAction.FAILURE_ACTION_ROLLBACK && !rollingBack && service.previousSpec) {
      return { budget: 0, outdated, service: rollback(service, ctx.now, `update rolled back: ${summary}`) };
    }
    const paused = rollingBack ? UpdateStatus_State.STATE_ROLLBACK_PAUSED : UpdateStatus_State.STATE_PAUSED;
    return {
      budget: 0,
      outdated,
      service: withStatus(service, paused, ctx.now, `${rollingBack ? 'rollback' : 'update'} paused: ${summary}`),
    };
  }

  // Slots in motion: new tasks not yet settled (running for the monitor period, and healthy where checked).
  let wakeAt: number | undefined;
  let lastSettled = startedAt;
  let inMotion = 0;
  for (const t of current) {
    if (!taskLive(t)) continue;
    const runningSince = t.status?.state === TaskState.TASK_STATE_RUNNING ? Number(t.status.timestampMs) : undefined;
    const settledAt = runningSince === undefined ? undefined : runningSince + monitorMs;
    const healthy = !hasHealthcheck(t.spec?.healthcheck) || t.status?.health === TaskHealth.TASK_HEALTH_HEALTHY;
    if (settledAt !== undefined && settledAt <= ctx.now && healthy) {
      lastSettled = Math.max(lastSettled, settledAt);
    } else {
      inMotion++;
      if (settledAt !== undefined && settledAt > ctx.now) wakeAt = min(wakeAt, settledAt);
    }
  }

  if (!anyOutdated && inMotion === 0) {
    const done = rollingBack ? UpdateStatus_State.STATE_ROLLBACK_COMPLETED : UpdateStatus_State.STATE_COMPLETED;
    return {
      budget: Number.POSITIVE_INFINITY,
      outdated,
      service: withStatus(service, done, ctx.now, rollingBack ? 'rollback completed' : 'update completed'),
    };
  }
  const parallelism = Number(config?.parallelism ?? 1n);
  let budget = parallelism === 0 ? Number.POSITIVE_INFINITY : Math.max(0, parallelism - inMotion);
  // A new batch waits for the delay after the last one settled.
  if (inMotion === 0 && delayMs > 0 && lastSettled > startedAt && ctx.now < lastSettled + delayMs) {
    budget = 0;
    wakeAt = min(wakeAt, lastSettled + delayMs);
  }
  return { budget, outdated, ...(wakeAt !== undefined ? { wakeAt } : {}) };
}

/**
 * The previous spec back as the service's spec, as a new version: its tasks replace the failed update's, and the
 * tasks still on the previous spec (and on those it was itself the same as) stay. The replica count stays as it
 * is now: scaling is not part of what is rolled back.
 */
export function rollback(service: Service, now: number, message: string): Service {
  const version = service.specVersion + 1n;
  const back = service.previousSpec && {
    ...service.previousSpec,
    replicas: service.spec?.replicas ?? service.previousSpec.replicas,
  };
  // The previous spec heads the history (older services, written before the history, have none to go by).
  const restored = service.specHistory[0];
  const same = restored ? [restored.specVersion, ...restored.sameTaskSpecVersions] : [];
  return {
    ...newSpecVersion(service, back, now),
    sameTaskSpecVersions: same.slice(0, SPEC_HISTORY_LIMIT),
    updateStatus: {
      state: UpdateStatus_State.STATE_ROLLBACK_STARTED,
      startedAtMs: BigInt(now),
      completedAtMs: 0n,
      message,
      specVersion: version,
    },
  };
}

function withStatus(service: Service, state: UpdateStatus_State, now: number, message: string, start = false): Service {
  const previous = service.updateStatus;
  const finished =
    state === UpdateStatus_State.STATE_COMPLETED || state === UpdateStatus_State.STATE_ROLLBACK_COMPLETED;
  return {
    ...service,
    updateStatus: {
      state,
      startedAtMs: start || !previous ? BigInt(now) : previous.startedAtMs,
      completedAtMs: finished ? BigInt(now) : 0n,
      message,
      specVersion: service.specVersion,
    },
  };
}

function continues(action: UpdateConfig['failureAction']): boolean {
  return action === UpdateConfig_FailureAction.FAILURE_ACTION_CONTINUE;
}

function hasHealthcheck(check: HealthCheck | undefined): boolean {
  if (!check) return false;
  const kind = check.test[0];
  return Boolean(check.probe?.http || check.probe?.tcp) || kind === 'CMD' || kind === 'CMD-SHELL';
}

function min(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

/** Specs kept per service (`spec_history`). */
export const SPEC_HISTORY_LIMIT = 10;

/**
 * The service with `spec` as its new version: the spec it replaces becomes `previous_spec` (what a rollback
 * returns to) and heads the history, which keeps the last 10.
 */
export function newSpecVersion(service: Service, spec: ServiceSpec | undefined, now: number): Service {
  const past = service.spec
    ? [
        {
          specVersion: service.specVersion,
          spec: service.spec,
          replacedAtMs: BigInt(now),
          sameTaskSpecVersions: service.sameTaskSpecVersions,
        },
        ...service.specHistory,
      ]
    : service.specHistory;
  return {
    ...service,
    spec,
    previousSpec: service.spec,
    specVersion: service.specVersion + 1n,
    sameTaskSpecVersions: [],
    specHistory: past.slice(0, SPEC_HISTORY_LIMIT),
    updatedAtMs: BigInt(now),
  };
}

/** The update_config that moves the service now: its rollback_config while a rollback of its version runs. */
export function activeUpdateConfig(service: Service): UpdateConfig | undefined {
  const status = service.updateStatus;
  const rollingBack =
    status?.specVersion === service.specVersion &&
    (status.state === UpdateStatus_State.STATE_ROLLBACK_STARTED ||
      status.state === UpdateStatus_State.STATE_ROLLBACK_PAUSED);
  return rollingBack ? service.spec?.rollbackConfig : service.spec?.updateConfig;
}
