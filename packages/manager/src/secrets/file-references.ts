import type { FileObject, Service, Task } from '@flotilla/api';
import { fileObjectIds, taskEnded } from '@flotilla/api';

// Who uses which version of a secret or config (FileReference.object_id), in one place: `secret rm` refuses a
// version in use, `secret ls` shows who uses it, and the leader's collection removes a stack's old versions.

/** The versions a container spec names (its secrets' and configs'). */
/**
 * Which services use each version: through their spec, their previous spec (what a rollback brings back), or a
 * task that has not ended (it may run, or be about to run, with it).
 */
export class FileObjectUse {
  private readonly users = new Map<string, Set<string>>();

  constructor(services: readonly Service[], tasks: readonly Task[]) {
    for (const service of services) {
      const name = service.spec?.annotations?.name || service.id;
      for (const spec of [service.spec, service.previousSpec]) {
        for (const id of fileObjectIds(spec?.container)) this.add(id, name);
      }
    }
    const names = new Map(services.map((s) => [s.id, s.spec?.annotations?.name || s.id]));
    for (const task of tasks) {
      if (taskEnded(task)) continue;
      const name = names.get(task.serviceId) ?? (task.serviceName || task.serviceId);
      for (const id of fileObjectIds(task.spec)) this.add(id, name);
    }
  }

  /** The names of the services that use this version, sorted; none when it is unused. */
  usedBy(objectId: string): string[] {
    return [...(this.users.get(objectId) ?? [])].sort();
  }

  inUse(objectId: string): boolean {
    return this.users.has(objectId);
  }

  private add(objectId: string, service: string): void {
    const users = this.users.get(objectId) ?? new Set<string>();
    users.add(service);
    this.users.set(objectId, users);
  }
}

export interface CollectOptions {
  nowMs: number;
  /**
   * Versions younger than this are kept: a deploy stores a stack's versions before it writes the services that
   * name them, and a first deploy has no service yet in between.
   */
  minAgeMs: number;
}

/**
 * A stack's versions to remove: unused (see FileObjectUse) and either older than the newest version of their name,
 * or of a stack that has no service any more. Objects made with `secret create` / `config create` (no stack) are
 * the operator's to remove, never collected.
 */
export function collectableFileObjects(
  files: readonly FileObject[],
  services: readonly Service[],
  use: FileObjectUse,
  options: CollectOptions,
): FileObject[] {
  const newest = new Map<string, bigint>();
  for (const f of files) {
    const key = `${f.kind}/${f.name}`;
    if ((newest.get(key) ?? 0n) < f.version) newest.set(key, f.version);
  }
  const stacks = new Set(services.map((s) => s.spec?.stack ?? '').filter((s) => s !== ''));
  return files.filter((f) => {
    if (!f.stack || use.inUse(f.id)) return false;
    if (options.nowMs - Number(f.createdAtMs) < options.minAgeMs) return false;
    const superseded = newest.get(`${f.kind}/${f.name}`) !== f.version;
    return superseded || !stacks.has(f.stack);
  });
}
