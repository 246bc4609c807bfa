import { type Task, taskHandedToNode } from '@flotilla/api';
import type { ChangeSet } from '@flotilla/store';

/** What one node is told of a store transaction: its tasks handed over or changed, and those taken away. */
export interface NodeAssignments {
  tasks: Task[];
  removed: string[];
}

/** The changes to each node's own tasks in one store transaction, by node. */
export function assignmentsByNode(set: ChangeSet<Task>): Map<string, NodeAssignments> {
  const perNode = new Map<string, NodeAssignments>();
  const entry = (nodeId: string) => {
    const existing = perNode.get(nodeId);
    if (existing) return existing;
    const created: NodeAssignments = { tasks: [], removed: [] };
    perNode.set(nodeId, created);
    return created;
  };
  for (const change of set.changes) {
    const before = change.previous?.nodeId;
    if (change.type === 'delete') {
      if (before) entry(before).removed.push(change.id);
      continue;
    }
    if (before && before !== change.value.nodeId) entry(before).removed.push(change.id);
    if (!taskHandedToNode(change.value)) continue;
    // A status report coming back from the node itself is not news to it; a task just handed over is.
    const news =
      !change.previous || !taskHandedToNode(change.previous) || assignmentChanged(change.previous, change.value);
    if (news) entry(change.value.nodeId).tasks.push(change.value);
  }
  return perNode;
}

/** The tasks handed to a node: the full list a new session starts with. */
export function assignedTo(tasks: readonly Task[], nodeId: string): Task[] {
  return tasks.filter((t) => t.nodeId === nodeId && taskHandedToNode(t));
}

/** Whether a task changed in what its node must act on: anything but the observed status and timestamps. */
function assignmentChanged(before: Task | undefined, after: Task): boolean {
  if (!before || before.nodeId !== after.nodeId) return true;
  // Compared as values, field by field, without copies or encoding: this runs on every status report of every
  // task.
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  for (const key in a) if (!OBSERVED.has(key) && !same(a[key], b[key])) return true;
  for (const key in b) if (!OBSERVED.has(key) && !(key in a) && b[key] !== undefined) return true;
  return false;
}

/** Task fields a node reports or that change with its reports: not news to the node. */
const OBSERVED = new Set(['status', 'updatedAtMs']);

/** Deep equality of decoded protobuf values: scalars, bigints, bytes, arrays and plain objects. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // Keys holding undefined count as absent; no key lists are built (this runs per field of every report).
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (!same(x[k], y[k])) return false;
  for (const k in y) if (!(k in x) && y[k] !== undefined) return false;
  return true;
}
