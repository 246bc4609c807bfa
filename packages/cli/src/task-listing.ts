import type { ListTasksResponse, Task } from '@flotilla/api';
import { protocolWord } from './output/docker-json.js';
import { table } from './table.js';
import { filterTasks, type TaskFilter } from './task-filter.js';
import { formatTasks, TASK_COLUMNS, taskRows } from './task-table.js';

export interface TaskListingOptions {
  /** table, or any format formatTasks takes (json, raw, a template). */
  format: string;
  /** Full IDs, images and errors. */
  noTrunc?: boolean;
  /** Task IDs only, one a line. */
  quiet?: boolean;
  now?: number;
}

/** Docker cuts an error to this many characters (the last an ellipsis) unless --no-trunc. */
export const ERROR_WIDTH = 30;

/**
 * Tasks as `docker service ps` and `docker node ps` list them: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE
 * ERROR PORTS, a slot's history under its current task. JSON is the listings' JSON, whatever the options.
 */
export function formatTaskListing(response: ListTasksResponse, options: TaskListingOptions): string {
  if (options.format !== 'table') return formatTasks(response, options.format);
  const id = (t: Task) => (options.noTrunc ? t.id : t.id.slice(0, 12));
  if (options.quiet) return response.tasks.map((t) => `${id(t)}\n`).join('');
  const now = options.now ?? Date.now();
  const rows = taskRows(response, now, options.noTrunc).map((row, i) => {
    const error = row[6] as string;
    row[6] = options.noTrunc ? error : truncate(error, ERROR_WIDTH);
    return [...row, hostPorts(response.tasks[i] as Task)];
  });
  return table([...TASK_COLUMNS, 'PORTS'], rows);
}

/** At most `width` characters, the last an ellipsis when cut; on one line (a table row holds one). */
export function truncate(text: string, width: number): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length <= width ? line : `${line.slice(0, width - 1)}\u2026`;
}

/** The ports a task publishes on its node (host mode), as docker prints them: `*:8080->80/tcp`. */
export function hostPorts(t: Task): string {
  return t.hostPorts
    .map((p) => `${p.hostIp || '*'}:${p.publishedPort}->${p.targetPort}/${protocolWord(p.protocol)}`)
    .join(', ');
}

/** The tasks several `ListTasks` answers hold, as one answer (`service ps A B`, `node ps N M`), in the order asked. */
export async function tasksOf(
  refs: readonly string[],
  list: (ref: string) => Promise<ListTasksResponse>,
): Promise<ListTasksResponse> {
  const all: ListTasksResponse = { tasks: [], nodeNames: {} };
  for (const ref of refs) {
    const part = await list(ref);
    all.tasks.push(...part.tasks);
    Object.assign(all.nodeNames, part.nodeNames);
  }
  return all;
}

/** What `service ps`, `node ps` and `stack ps` print: the tasks `--filter` keeps, listed with their options. */
export function psListing(
  response: ListTasksResponse,
  filter: TaskFilter,
  opts: { format: string; trunc?: boolean; quiet?: boolean },
): string {
  return formatTaskListing(filterTasks(response, filter), {
    format: opts.format,
    noTrunc: opts.trunc === false,
    quiet: opts.quiet ?? false,
  });
}
