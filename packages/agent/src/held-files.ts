import { type Assignments, type Task, taskFileObjectIds, taskFiles } from '@flotilla/api';
import { RejectedError, type TaskFileContent } from './executor/executor.js';

/**
 * The contents of the secrets and configs this node's tasks use, as the managers sent them: in memory only, never
 * written to the node's disk (the containerd executor puts them on a tmpfs of the task's). Each is dropped once no
 * task assigned here uses it. What is held is worked out exactly as the managers' dispatcher works it out
 * (SessionFiles): each task is recorded with the versions it uses (a full set replaces the record, a removal drops
 * the task), and after each message with tasks or removals, a version no recorded task uses goes. A message with
 * files only comes ahead of the tasks that use them, and drops nothing.
 */
export class HeldFiles {
  private readonly uses = new Map<string, readonly string[]>();
  private readonly contents = new Map<string, Buffer>();

  apply(assignments: Assignments): void {
    for (const f of assignments.files) this.contents.set(f.objectId, Buffer.from(f.data));
    const aheadOfTasks = !assignments.full && assignments.tasks.length === 0 && assignments.removedTaskIds.length === 0;
    if (aheadOfTasks) return;
    if (assignments.full) this.uses.clear();
    for (const id of assignments.removedTaskIds) this.uses.delete(id);
    for (const task of assignments.tasks) {
      const ids = taskFileObjectIds(task);
      if (ids.length > 0) this.uses.set(task.id, ids);
      else this.uses.delete(task.id);
    }
    const used = new Set<string>();
    for (const ids of this.uses.values()) for (const id of ids) used.add(id);
    for (const id of this.contents.keys()) if (!used.has(id)) this.drop(id);
  }

  /**
   * The files a task's container gets, with their contents; refused (the task is rejected) when one was not
   * delivered here, or when the executor cannot deliver files at all.
   */
  forTask(task: Task, executor: { name: string; deliversFiles?: boolean }): TaskFileContent[] {
    const wanted = taskFiles(task);
    if (wanted.length === 0) return [];
    if (!executor.deliversFiles) {
      const names = wanted.map((f) => `${f.kind} ${f.ref.source}`).join(', ');
      throw new RejectedError(
        `the task uses ${names}, which the ${executor.name} executor cannot deliver: secrets and configs need a node that runs tasks with the containerd executor`,
      );
    }
    return wanted.map(({ kind, ref }) => {
      const data = ref.objectId ? this.contents.get(ref.objectId) : undefined;
      if (!data) {
        throw new RejectedError(
          ref.objectId
            ? `${kind} ${ref.source} version ${ref.objectId} was not delivered to this node`
            : `${kind} ${ref.source} names no stored version: deploy the service again`,
        );
      }
      return { kind, ref, data };
    });
  }

  /** The versions held now (tests and metrics: IDs only). */
  holding(): string[] {
    return [...this.contents.keys()].sort();
  }

  /** Forgets every content (the agent stops). */
  clear(): void {
    for (const id of [...this.contents.keys()]) this.drop(id);
    this.uses.clear();
  }

  private drop(id: string): void {
    // Zeroed first: the buffer may be a slice of a larger one the gRPC message was decoded from.
    this.contents.get(id)?.fill(0);
    this.contents.delete(id);
  }
}
