import type { ListTasksResponse } from '@flotilla/api';
import { dockerTask } from './output/docker-json.js';
import { taskListing } from './output/listing.js';
import { table } from './table.js';

/** A task state as listings and `--filter desired-state=` word it: `running`, `shutdown` (docker-json's words). */
export { taskStateWord as stateWord } from './output/docker-json.js';

/** Tasks in the --format asked for: the table, docker's JSON rows, the API's tasks (raw), or a template. */
export function formatTasks(response: ListTasksResponse, format: string, now = Date.now()): string {
  return taskListing(response, format, () => table(TASK_COLUMNS, taskRows(response, now)), now);
}

/** The columns of `docker service ps` that taskRows fills, PORTS aside. */
export const TASK_COLUMNS = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'];

/**
 * Tasks as `docker service ps` shows them: one row per task, a slot's history under its current task. The cells are
 * the `--format json` row's fields (docker-json.ts makes the row and its words); IDs are cut to 12 characters and
 * pinned images shortened unless `noTrunc`.
 */
export function taskRows(response: ListTasksResponse, now: number, noTrunc = false): string[][] {
  let previous = '';
  return response.tasks.map((t) => {
    const row = dockerTask(t, response.nodeNames, now);
    const key = `${row.ServiceID}/${row.Slot === 0 ? row.NodeID : row.Slot}`;
    const shown = key === previous ? ` \\_ ${row.Name}` : row.Name;
    previous = key;
    return [
      noTrunc ? row.ID : row.ID.slice(0, 12),
      shown,
      noTrunc ? row.Image : shortImage(row.Image),
      row.Node,
      row.DesiredState,
      row.CurrentState,
      row.Error,
    ];
  });
}

/**
 * A pinned image as a table shows it: the tag people read and the digest's first 12 hex digits
 * (`app:1@sha256:0123456789ab`), enough to tell two digests apart; JSON and inspect give it whole.
 */
export function shortImage(image: string): string {
  const pinned = /^(.*@sha(?:256|512):)([a-f0-9]{12})[a-f0-9]+$/.exec(image);
  return pinned ? `${pinned[1]}${pinned[2]}` : image;
}
