import { type ListTasksResponse, Task, TaskState } from '@flotilla/api';
import { ago, table } from './table.js';

const stateWord = (s: TaskState | undefined) =>
  (TaskState[s ?? TaskState.TASK_STATE_UNSPECIFIED] ?? 'UNKNOWN').replace('TASK_STATE_', '').toLowerCase();

/** Tasks as `docker service ps` shows them: one row per task, a slot's history under its current task. */
export function formatTasks(response: ListTasksResponse, format: 'table' | 'json', now = Date.now()): string {
  if (format === 'json')
    return `${JSON.stringify(
      response.tasks.map((t) => Task.toJSON(t)),
      null,
      2,
    )}\n`;
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
      `${stateWord(status?.state)} ${ago(status?.timestampMs ?? 0n, now)}`.trim(),
      error,
    ];
  });
  return table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows);
}

function image(t: Task): string {
  return t.spec?.image ?? '';
}
