import type { Task } from './gen/flotilla/v1/objects.js';
import type { ContainerSpec, FileReference } from './gen/flotilla/v1/service.js';

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
 * The stored versions (FileObject IDs) a container spec names, each once, secrets first. What the managers send a
 * node and what its agent keeps are both worked out from this, so the two agree on what the node holds; the
 * managers also count uses with it.
 */
export function fileObjectIds(container: ContainerSpec | undefined): string[] {
  const ids = new Set<string>();
  for (const ref of [...(container?.secrets ?? []), ...(container?.configs ?? [])])
    if (ref.objectId) ids.add(ref.objectId);
  return [...ids];
}

/** The versions a task uses: its spec's, as fileObjectIds gives them. */
export function taskFileObjectIds(task: Task): string[] {
  return fileObjectIds(task.spec);
}

/** The container mounts secrets or configs: only containers can (nodes that run plain processes cannot). */
export function usesFiles(container: ContainerSpec | undefined): boolean {
  return (container?.secrets.length ?? 0) + (container?.configs.length ?? 0) > 0;
}
