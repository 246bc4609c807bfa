import {
  runsCurrentSpec,
  type Service,
  ServiceMode,
  type Task,
  TaskHealth,
  TaskState,
  taskEnded,
  taskFailed,
  taskMeantToRun,
} from '@flotilla/api';

/**
 * Where each task slot of a service stands, as `docker service create|update` shows while it waits: one entry per
 * slot (`1/3`, or a node's short ID for a global service), in slot order, saying the state of the task that fills
 * it, whether it runs the current spec, and its health or error. Pure: the follower only fetches and draws.
 */
export function slotProgress(service: Service, tasks: readonly Task[]): Map<string, string> {
  const global =
    service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL ||
    service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
  const replicas = Number(service.spec?.replicas ?? 0n);
  const bySlot = new Map<string, Task[]>();
  for (const t of tasks) {
    if (t.serviceId !== service.id) continue;
    const key = global ? t.nodeId.slice(0, 12) : String(t.slot);
    if (!global && (t.slot < 1n || Number(t.slot) > replicas)) continue;
    const list = bySlot.get(key);
    if (list) list.push(t);
    else bySlot.set(key, [t]);
  }
  const keys = global ? [...bySlot.keys()].sort() : Array.from({ length: replicas }, (_, i) => String(i + 1));
  const out = new Map<string, string>();
  for (const key of keys) {
    const label = global ? key : `${key}/${replicas}`;
    const task = newest(bySlot.get(key) ?? []);
    out.set(label, task ? describe(service, task) : 'new');
  }
  return out;
}

/** The task that stands for its slot: the newest one still meant to run, else the newest of all. */
function newest(list: readonly Task[]): Task | undefined {
  const sorted = [...list].sort((a, b) =>
    a.createdAtMs === b.createdAtMs ? b.id.localeCompare(a.id) : a.createdAtMs > b.createdAtMs ? -1 : 1,
  );
  return sorted.find((t) => taskMeantToRun(t) && !taskEnded(t)) ?? sorted[0];
}

function describe(service: Service, task: Task): string {
  const state = task.status?.state ?? TaskState.TASK_STATE_NEW;
  const words = [stateWord(state)];
  if (state === TaskState.TASK_STATE_RUNNING) {
    const health = task.status?.health;
    if (health === TaskHealth.TASK_HEALTH_STARTING) words.push('(health: starting)');
    if (health === TaskHealth.TASK_HEALTH_UNHEALTHY) words.push('(unhealthy)');
  }
  words.push(runsCurrentSpec(service, task) ? `spec ${task.specVersion}` : `old spec ${task.specVersion}`);
  const why =
    taskFailed(task) || state === TaskState.TASK_STATE_PENDING ? task.status?.error || task.status?.message : '';
  return why ? `${words.join(' ')}: ${why}` : words.join(' ');
}

/** A state as docker prints it: `running`, `preparing`, `failed`. */
export function stateWord(state: TaskState): string {
  return (TaskState[state] ?? 'unknown').replace(/^TASK_STATE_/, '').toLowerCase();
}
