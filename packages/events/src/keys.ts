import { Code, FlotillaError } from '@flotilla/api';

/** The cluster event stream. */
export const EVENTS_KEY = 'flotilla:events';

/** Per-task container log streams are `flotilla:logs:<taskId>`. */
export const LOGS_KEY_PREFIX = 'flotilla:logs:';

// Task IDs are base-36 today; allow a little more, but never ':' or spaces, so an ID cannot reach another key.
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isTaskId(taskId: string): boolean {
  return TASK_ID.test(taskId);
}

/** The log stream key of a task; throws `invalid-argument` for an ID that is not a task ID. */
export function logKey(taskId: string, prefix = LOGS_KEY_PREFIX): string {
  if (!isTaskId(taskId)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${JSON.stringify(taskId)} is not a task ID (letters, digits, . _ -)`,
      { reason: 'invalid-argument' },
    );
  }
  return `${prefix}${taskId}`;
}
