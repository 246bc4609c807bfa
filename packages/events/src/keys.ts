import { Code, FlotillaError } from '@flotilla/api';

/** The cluster event stream. */
export const EVENTS_KEY = 'flotilla:events';

/**
 * Per-task container log streams are `flotilla:logs:<nodeId>:<taskId>`: the node's segment lets a Redis ACL give
 * each node's user its own streams and nothing else. Streams written before the node segment
 * (`flotilla:logs:<taskId>`) are still read, until they expire.
 */
export const LOGS_KEY_PREFIX = 'flotilla:logs:';

// Task IDs are base-36 today; allow a little more, but never ':' or spaces, so an ID cannot reach another key.
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isTaskId(taskId: string): boolean {
  return TASK_ID.test(taskId);
}

/**
 * The log stream key of a task on a node (`nodeId` absent: the layout before node segments); throws
 * `invalid-argument` for an ID that is not a task or node ID.
 */
export function logKey(taskId: string, prefix = LOGS_KEY_PREFIX, nodeId?: string): string {
  checkId(taskId, 'task');
  if (nodeId === undefined) return `${prefix}${taskId}`;
  checkId(nodeId, 'node');
  return `${prefix}${nodeId}:${taskId}`;
}

/**
 * The keys a node's tasks log to, as a Redis glob. IDs hold no glob characters (`*?[]\`) and no ':', so the
 * pattern of one node can match no other node's keys.
 */
export function nodeLogPattern(nodeId: string, prefix = LOGS_KEY_PREFIX): string {
  checkId(nodeId, 'node');
  return `${prefix}${nodeId}:*`;
}

function checkId(id: string, what: 'task' | 'node'): void {
  if (!isTaskId(id)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${JSON.stringify(id)} is not a ${what} ID (letters, digits, . _ -)`,
      { reason: 'invalid-argument' },
    );
  }
}
