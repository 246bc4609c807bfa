import { type Task, taskHandedToNode } from '@flotilla/api';
import type { ChangeSet } from '@flotilla/store';

/**
 * How many tasks each node holds (handed to it), kept from the task changes: a node's status budget grows with
 * its tasks. Applying the same change twice changes nothing, and a node with no task has no entry.
 */
export class HandedTasks {
  private readonly nodeOf = new Map<string, string>();
  private readonly counts = new Map<string, number>();

  /** Applies one transaction's task changes. */
  apply(set: ChangeSet<Task>): void {
    for (const change of set.changes) {
      if (change.type === 'delete') this.place(change.id, undefined);
      else this.place(change.id, taskHandedToNode(change.value) ? change.value.nodeId : undefined);
    }
  }

  /** Tasks handed to a node now. */
  count(nodeId: string): number {
    return this.counts.get(nodeId) ?? 0;
  }

  /** Nodes holding at least one task. */
  get nodes(): number {
    return this.counts.size;
  }

  private place(taskId: string, nodeId: string | undefined): void {
    const before = this.nodeOf.get(taskId);
    if (before === nodeId) return;
    if (before !== undefined) {
      const left = (this.counts.get(before) ?? 1) - 1;
      if (left > 0) this.counts.set(before, left);
      else this.counts.delete(before);
      this.nodeOf.delete(taskId);
    }
    if (nodeId !== undefined) {
      this.nodeOf.set(taskId, nodeId);
      this.counts.set(nodeId, (this.counts.get(nodeId) ?? 0) + 1);
    }
  }
}
