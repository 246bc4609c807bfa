import { type ListTasksResponse, type Task, TaskHealth, TaskState, type TaskStatus } from '@flotilla/api';
import { taskListing } from './output/listing.js';
import { ago, table } from './table.js';

/** A task state as listings print it: `running`, `shutdown`. */
export const stateWord = (s: TaskState | undefined) =>
  (TaskState[s ?? TaskState.TASK_STATE_UNSPECIFIED] ?? 'UNKNOWN').replace('TASK_STATE_', '').toLowerCase();

/** Tasks in the --format asked for: the table, docker's JSON rows, the API's tasks (raw), or a template. */
export function formatTasks(response: ListTasksResponse, format: string, now = Date.now()): string {
  return taskListing(response, format, () => taskTable(response, now), now);
}

/** Tasks as `docker service ps` shows them: one row per task, a slot's history under its current task. */
function taskTable(response: ListTasksResponse, now: number): string {
  let previous = '';
  const rows = response.tasks.map((t) => {
    const key = `${t.serviceId}/${t.slot === 0n ? t.nodeId : t.slot}`;
    const name = t.slot === 0n ? `${t.serviceName}.${t.nodeId}` : `${t.serviceName}.${t.slot}`;
    const shown = key === previous ? ` \\_ ${name}` : name;
    previous = key;
    const status = t.status;
    const error = status?.error || (status?.state === TaskState.TASK_STATE_PENDING ? status.message : '');
    return [
      t.id.slice(0, 12),
      shown,
      image(t),
      t.nodeId ? (response.nodeNames[t.nodeId] ?? t.nodeId) : '',
      stateWord(t.desiredState),
      `${stateWord(status?.state)}${healthWord(status)}${exitWord(status)} ${ago(status?.timestampMs ?? 0n, now)}`.trim(),
      error,
    ];
  });
  return table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows);
}

/** ` (healthy)` after the state of a running task with a healthcheck, as `docker ps` shows it. */
export function healthWord(status: TaskStatus | undefined): string {
  if (status?.state !== TaskState.TASK_STATE_RUNNING || !status.health) return '';
  const word = (TaskHealth[status.health] ?? '').replace('TASK_HEALTH_', '').toLowerCase();
  return word ? ` (${word})` : '';
}

/** ` (exit 3)` after a task that exited on its own: complete (exit 0, a job's task) or failed with a code. */
export function exitWord(status: TaskStatus | undefined): string {
  if (status?.state === TaskState.TASK_STATE_COMPLETE) return ` (exit ${status.exitCode})`;
  if (status?.state === TaskState.TASK_STATE_FAILED && status.exitCode !== 0) return ` (exit ${status.exitCode})`;
  return '';
}

function image(t: Task): string {
  return shortImage(t.spec?.image ?? '');
}

/**
 * A pinned image as a table shows it: the tag people read and the digest's first 12 hex digits
 * (`app:1@sha256:0123456789ab`), enough to tell two digests apart; JSON and inspect give it whole.
 */
export function shortImage(image: string): string {
  const pinned = /^(.*@sha(?:256|512):)([a-f0-9]{12})[a-f0-9]+$/.exec(image);
  return pinned ? `${pinned[1]}${pinned[2]}` : image;
}
