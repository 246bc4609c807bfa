import {
  type HealthCheck,
  isJobMode,
  jobProgress,
  type Node,
  nodeEligible,
  runsCurrentSpec,
  type Service,
  ServiceMode,
  type Task,
  TaskHealth,
  TaskState,
  taskEnded,
  taskFailed,
  taskMeantToRun,
  UpdateStatus_State,
} from '@flotilla/api';

/** What DeployStack did to a service, as `stack deploy --wait` follows it. */
export interface WatchedService {
  name: string;
  id: string;
  action: 'created' | 'updated' | 'unchanged' | 'removed';
  /** The service's spec version before the deploy (absent for a created one): tells a new version from a scale. */
  versionBefore?: bigint;
  /** The change followed is a rollback the operator asked for (`service rollback`): rolling back is its aim. */
  rollback?: boolean;
}

/** What the cluster looks like at one poll. */
export interface Observation {
  services: readonly Service[];
  tasks: readonly Task[];
  /** Needed for global services only: which nodes should run one of their tasks. */
  nodes: readonly Node[];
}

export type Outcome =
  | { kind: 'waiting'; progress: string }
  | { kind: 'converged'; progress: string }
  | { kind: 'failed'; progress: string; reason: string };

/** How a wait for a deploy ended: each service's outcome, and whether the time ran out first. */
export interface WatchResult {
  outcomes: Map<string, Outcome>;
  timedOut: boolean;
  /** The last poll's error, when polls were failing as the time ran out (a manager away, say). */
  lastError?: string;
}

/** Failed or rejected tasks of the current version in a row, in one slot, before a service counts as failing. */
export const FAILURES_IN_A_ROW = 3;

const PAUSED = new Set([UpdateStatus_State.STATE_PAUSED, UpdateStatus_State.STATE_ROLLBACK_PAUSED]);
const ROLLED_BACK = new Set([UpdateStatus_State.STATE_ROLLBACK_STARTED, UpdateStatus_State.STATE_ROLLBACK_COMPLETED]);

/**
 * Where each deployed service stands, from one observation: converged, still on its way, or failed with the
 * reason. Pure, so every rule is tested without a cluster; the poller only fetches and reports.
 *
 * A service has converged when no update of its current version is under way or stuck, and it runs its desired
 * tasks (replicas, or one per eligible node for a global service), every one on the current spec version,
 * running, and healthy where it has a healthcheck, with no task of an older version left. It has failed when its
 * update paused, or rolled back from the version this deploy made (a completed rollback is still a failed
 * deploy), or when one of its slots failed FAILURES_IN_A_ROW times in a row outside an update (a new service
 * whose image cannot start never gets an update status to say so).
 */
export function deployOutcomes(watched: readonly WatchedService[], seen: Observation): Map<string, Outcome> {
  const services = new Map<string, Service>();
  for (const s of seen.services) services.set(s.id, s);
  const tasks = new Map<string, Task[]>();
  for (const t of seen.tasks) {
    const list = tasks.get(t.serviceId);
    if (list) list.push(t);
    else tasks.set(t.serviceId, [t]);
  }
  const outcomes = new Map<string, Outcome>();
  for (const w of watched) {
    const service = services.get(w.id) ?? seen.services.find((s) => s.spec?.annotations?.name === w.name);
    outcomes.set(w.name, outcome(w, service, service ? (tasks.get(service.id) ?? []) : [], nodesFor(service, seen)));
  }
  return outcomes;
}

/** A global sidecar runs only where its main service does: nodes that take the tasks of both. */
function nodesFor(service: Service | undefined, seen: Observation): readonly Node[] {
  const name = service?.spec?.sidecar?.service;
  const main = name ? seen.services.find((s) => s.spec?.annotations?.name === name) : undefined;
  return main ? seen.nodes.filter((n) => nodeEligible(n, main.spec?.placement)) : seen.nodes;
}

function outcome(w: WatchedService, service: Service | undefined, tasks: Task[], nodes: readonly Node[]): Outcome {
  if (w.action === 'removed') {
    return service ? { kind: 'waiting', progress: 'removing' } : { kind: 'converged', progress: 'removed' };
  }
  if (!service) {
    return { kind: 'failed', progress: 'gone', reason: 'the service was removed while the deploy was waiting for it' };
  }
  if (isJobMode(service.spec?.mode)) return jobOutcome(service, tasks);
  const version = service.specVersion;
  const status = service.updateStatus;
  const ofCurrent = status !== undefined && status.specVersion === version;
  // This deploy's own update (or the rollback that replaced it); an unchanged or scaled service's status is older.
  const ofDeploy = status !== undefined && w.action !== 'unchanged' && status.specVersion > (w.versionBefore ?? 0n);
  const count = countTasks(service, tasks, nodes);
  const progress = `${count.ready}/${count.desired} running${version > 1n ? ` (spec ${version})` : ''}`;

  if (ofCurrent && PAUSED.has(status.state)) {
    return { kind: 'failed', progress, reason: status.message || 'update paused' };
  }
  if (ofDeploy && ROLLED_BACK.has(status.state) && !w.rollback) {
    return { kind: 'failed', progress, reason: status.message || 'update rolled back' };
  }
  const updating =
    ofCurrent &&
    (status.state === UpdateStatus_State.STATE_UPDATING || status.state === UpdateStatus_State.STATE_ROLLBACK_STARTED);
  if (!updating) {
    const failing = failingSlot(service, tasks);
    if (failing) {
      const why = failing.status?.error || failing.status?.message || 'no error given';
      return {
        kind: 'failed',
        progress,
        reason: `${FAILURES_IN_A_ROW} tasks in a row failed to run (${why})`,
      };
    }
  }
  const notes: string[] = [];
  if (updating) {
    notes.push(status.state === UpdateStatus_State.STATE_UPDATING ? 'update in progress' : 'rollback in progress');
  }
  if (count.unhealthy > 0) notes.push(`${count.unhealthy} not healthy yet`);
  if (count.outdated > 0 && !updating) notes.push(`${count.outdated} on an older spec`);
  if (count.pending) notes.push(`pending: ${count.pending}`);
  const shown = notes.length > 0 ? `${progress}, ${notes.join(', ')}` : progress;
  if (!updating && count.ready >= count.desired && count.outdated === 0) {
    return { kind: 'converged', progress: count.checked ? `${progress}, healthy` : progress };
  }
  return { kind: 'waiting', progress: shown };
}

/**
 * A job has converged when its run reached every completion, and failed when one of its tasks failed with no
 * attempt left (the orchestrator's word: desired state FAILED): the message names that task and its exit code.
 */
function jobOutcome(service: Service, tasks: Task[]): Outcome {
  const job = jobProgress(service, tasks);
  const progress = `${job.completed}/${job.total} completed${job.running > 0 ? `, ${job.running} running` : ''}`;
  if (job.failed) {
    const t = job.failed;
    const name = t.slot === 0n ? `${t.serviceName}.${t.nodeId}` : `${t.serviceName}.${t.slot}`;
    const code = t.status?.exitCode ?? 0;
    const why = t.status?.error || t.status?.message || 'no error given';
    const exit = code !== 0 && !why.includes(`code ${code}`) ? ` with exit code ${code}` : '';
    return {
      kind: 'failed',
      progress,
      reason: `job task ${name} (${t.id.slice(0, 12)}) failed${exit} (${why}) and has no restart attempt left`,
    };
  }
  return job.finished ? { kind: 'converged', progress } : { kind: 'waiting', progress };
}

interface TaskCount {
  /** Slots (or eligible nodes) with a running, healthy task of the current version. */
  ready: number;
  desired: number;
  /** Running tasks of the current version still waiting to pass their healthcheck, or failing it. */
  unhealthy: number;
  /** Tasks of an older version still meant to run. */
  outdated: number;
  /** Whether the service's tasks have a healthcheck. */
  checked: boolean;
  /** Why a task waits to be placed, when one does. */
  pending?: string;
}

function countTasks(service: Service, tasks: Task[], nodes: readonly Node[]): TaskCount {
  const global = service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL;
  const replicas = service.spec?.replicas ?? 0n;
  const eligible = new Set(nodes.filter((n) => nodeEligible(n, service.spec?.placement)).map((n) => n.id));
  const inScope = (t: Task) => (global ? eligible.has(t.nodeId) : t.slot >= 1n && t.slot <= replicas);
  const live = tasks.filter((t) => taskMeantToRun(t) && !taskEnded(t));
  const running = live.filter(
    (t) => runsCurrentSpec(service, t) && t.status?.state === TaskState.TASK_STATE_RUNNING && inScope(t),
  );
  const ready = new Set<string>();
  let unhealthy = 0;
  for (const t of running) {
    if (healthy(t)) ready.add(global ? t.nodeId : String(t.slot));
    else unhealthy++;
  }
  const pending = live.find((t) => t.status?.state === TaskState.TASK_STATE_PENDING && t.status.message);
  return {
    ready: ready.size,
    desired: global ? eligible.size : Number(replicas),
    unhealthy,
    outdated: live.filter((t) => !runsCurrentSpec(service, t)).length,
    checked: hasHealthcheck(service.spec?.container?.healthcheck),
    ...(pending?.status?.message ? { pending: pending.status.message } : {}),
  };
}

/**
 * The newest failed task of a slot whose last FAILURES_IN_A_ROW tasks of the current spec all failed (a
 * replacement still starting does not break the run), if any slot has such a run.
 */
function failingSlot(service: Service, tasks: Task[]): Task | undefined {
  const slots = new Map<string, Task[]>();
  for (const t of tasks) {
    if (!runsCurrentSpec(service, t)) continue;
    const key = t.slot === 0n ? `node:${t.nodeId}` : String(t.slot);
    const list = slots.get(key);
    if (list) list.push(t);
    else slots.set(key, [t]);
  }
  for (const list of slots.values()) {
    const newestFirst = [...list].sort((a, b) =>
      a.createdAtMs === b.createdAtMs ? b.id.localeCompare(a.id) : a.createdAtMs > b.createdAtMs ? -1 : 1,
    );
    let run = 0;
    let newestFailed: Task | undefined;
    for (const t of newestFirst) {
      if (taskFailed(t)) {
        run++;
        newestFailed ??= t;
      } else if (taskEnded(t) || t.status?.state === TaskState.TASK_STATE_RUNNING) {
        break;
      }
      if (run >= FAILURES_IN_A_ROW) return newestFailed;
    }
  }
  return undefined;
}

/** Healthy where the task has a healthcheck; a task without one is healthy unless its runtime says otherwise. */
function healthy(t: Task): boolean {
  const health = t.status?.health;
  if (hasHealthcheck(t.spec?.healthcheck)) return health === TaskHealth.TASK_HEALTH_HEALTHY;
  return health !== TaskHealth.TASK_HEALTH_STARTING && health !== TaskHealth.TASK_HEALTH_UNHEALTHY;
}

/** The same test the rolling update makes: a probe, or a CMD / CMD-SHELL test ("NONE" or empty: none). */
function hasHealthcheck(check: HealthCheck | undefined): boolean {
  if (!check) return false;
  const kind = check.test[0];
  return Boolean(check.probe?.http || check.probe?.tcp) || kind === 'CMD' || kind === 'CMD-SHELL';
}
