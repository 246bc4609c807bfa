import { Option } from '@commander-js/extra-typings';
import type { ListTasksResponse, Task } from '@flotilla/api';
import { usageError } from './exit-codes.js';
import { stateWord } from './task-table.js';

/** The keys `service ps --filter` and `node ps --filter` take, as docker's do. */
export const TASK_FILTER_KEYS = ['desired-state', 'node', 'name'] as const;
type TaskFilterKey = (typeof TASK_FILTER_KEYS)[number];

/** Values of one key are ORed; different keys are ANDed (docker's rule). */
export type TaskFilter = Partial<Record<TaskFilterKey, string[]>>;

// Docker's three, and the desired states Flotilla also gives (a job's finished tasks, a removed service's).
const DESIRED_STATES = ['running', 'shutdown', 'accepted', 'complete', 'failed', 'remove'] as const;

/** `-f, --filter KEY=VALUE`, repeatable, as `service ps` and `node ps` take it. */
export function taskFilterOption() {
  return new Option(
    '-f, --filter <KEY=VALUE>',
    `keep only matching tasks (repeatable: one key's values ORed, different keys ANDed): ${TASK_FILTER_KEYS.join(', ')}`,
  )
    .argParser((value: string, previous: string[]) => [...previous, value])
    .default([] as string[]);
}

/** Parses repeated `--filter KEY=VALUE` flags; an unknown key or desired state is a usage error saying what works. */
export function parseTaskFilter(flags: readonly string[]): TaskFilter {
  const filter: TaskFilter = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const key = flag.slice(0, Math.max(eq, 0)).trim();
    const value = flag.slice(eq + 1).trim();
    if (eq <= 0 || value === '') throw usageError(`--filter takes KEY=VALUE, got ${JSON.stringify(flag)}`);
    if (!(TASK_FILTER_KEYS as readonly string[]).includes(key)) {
      throw usageError(`--filter: unknown key "${key}": use ${TASK_FILTER_KEYS.join(', ')}`);
    }
    if (key === 'desired-state' && !(DESIRED_STATES as readonly string[]).includes(value.toLowerCase())) {
      throw usageError(`--filter desired-state: "${value}" is not a desired state: use ${DESIRED_STATES.join(', ')}`);
    }
    const k = key as TaskFilterKey;
    filter[k] = [...(filter[k] ?? []), key === 'desired-state' ? value.toLowerCase() : value];
  }
  return filter;
}

/** A task's name as docker filters on it: SERVICE.SLOT.ID (SERVICE.NODE.ID for a global service's task). */
export function dockerTaskName(t: Task): string {
  return `${t.serviceName}.${t.slot === 0n ? t.nodeId : t.slot}.${t.id}`;
}

/**
 * The tasks the filter keeps, in the order given. `node` is a node's ID or hostname; a node nobody has is an error
 * (a typo would otherwise look like a node without tasks). `name` matches the start of a task's name, as docker's.
 */
export function filterTasks(response: ListTasksResponse, filter: TaskFilter): ListTasksResponse {
  const nodes = filter.node;
  if (nodes) {
    const known = new Set([...Object.keys(response.nodeNames), ...Object.values(response.nodeNames)]);
    const unknown = nodes.find((n) => !known.has(n));
    if (unknown !== undefined)
      throw usageError(`--filter node: no node ${JSON.stringify(unknown)}: see flotilla node ls`);
  }
  const keep = (t: Task) =>
    (!filter['desired-state'] || filter['desired-state'].includes(stateWord(t.desiredState))) &&
    (!nodes || nodes.includes(t.nodeId) || nodes.includes(response.nodeNames[t.nodeId] ?? '')) &&
    (!filter.name || filter.name.some((prefix) => dockerTaskName(t).startsWith(prefix)));
  return { ...response, tasks: response.tasks.filter(keep) };
}
