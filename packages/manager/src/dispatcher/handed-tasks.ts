import { type Task, taskHandedToNode } from '@flotilla/api';
import type { ChangeSet } from '@flotilla/store';

/**
 * Which tasks each node holds (handed to it), kept from the task changes: a node's status budget grows with its
 * tasks, and its whole assignment set is made from its own tasks, not from a scan of every task. Applying the
 * same change twice changes nothing, and a node with no task has no entry.
 */
export class HandedTasks {
  private readonly nodeOf = new Map<string, string>();
  private readonly byNode = new Map<string, Set<string>>();

  /** Applies one transaction's task changes. */
  apply(set: ChangeSet<Task>): void {
    for (const change of set.changes) {
      if (change.type === 'delete') this.place(change.id, undefined);
      else this.place(change.id, taskHandedToNode(change.value) ? change.value.nodeId : undefined);
    }
  }

  /** Tasks handed to a node now. */
  count(nodeId: string): number {
    return this.byNode.get(nodeId)?.size ?? 0;
  }

  /** The IDs of the tasks handed to a node now, in order. */
  ids(nodeId: string): string[] {
    return [...(this.byNode.get(nodeId) ?? [])].sort();
  }

  /** Nodes holding at least one task. */
  get nodes(): number {
    return this.byNode.size;
  }

  private place(taskId: string, nodeId: string | undefined): void {
    const before = this.nodeOf.get(taskId);
    if (before === nodeId) return;
    if (before !== undefined) {
      const held = this.byNode.get(before);
      held?.delete(taskId);
      if (held?.size === 0) this.byNode.delete(before);
      this.nodeOf.delete(taskId);
    }
    if (nodeId !== undefined) {
      this.nodeOf.set(taskId, nodeId);
      const held = this.byNode.get(nodeId) ?? new Set<string>();
      held.add(taskId);
      this.byNode.set(nodeId, held);
    }
  }
}
