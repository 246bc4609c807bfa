import type { Task } from './gen/flotilla/v1/objects.js';
import type { FileReference } from './gen/flotilla/v1/service.js';

/** A secret or config a task's container gets as a file, with which of the two it is. */
export interface TaskFile {
  kind: 'secret' | 'config';
  ref: FileReference;
}

/** The secrets and configs a task's spec asks for, secrets first. */
export function taskFiles(task: Task): TaskFile[] {
  const spec = task.spec;
  if (!spec) return [];
  return [
    ...spec.secrets.map((ref) => ({ kind: 'secret' as const, ref })),
    ...spec.configs.map((ref) => ({ kind: 'config' as const, ref })),
  ];
}

/**
 * The stored versions (FileObject IDs) a task uses, each once, in order. What the managers send a node and what
 * its agent keeps are both worked out from this, so the two agree on what the node holds.
 */
export function taskFileObjectIds(task: Task): string[] {
  const ids = new Set<string>();
  for (const { ref } of taskFiles(task)) if (ref.objectId) ids.add(ref.objectId);
  return [...ids];
}
