import type { NodeState } from './node-state.js';
import type { TaskGroup } from './task-group.js';

/**
 * One placement rule. A filter says why a node fails with a short `detail` (`memory`, `node.labels.zone==b`);
 * explain() and describe() turn details into the words a pending task shows.
 */
export interface Filter {
  readonly name: string;
  /**
   * A static filter reads only the node's description and the group's spec, so its verdict holds for the whole
   * group and for every group with the same signature until a node changes. A dynamic one reads what is placed.
   */
  readonly isStatic: boolean;
  /** False when the group does not use the rule (no constraints, no reservations…): the filter is skipped. */
  appliesTo(group: TaskGroup): boolean;
  /** undefined when the node passes, else the detail of the first reason it fails. Only nodes with a Node. */
  check(node: NodeState, group: TaskGroup): string | undefined;
  /** The reason across `count` nodes: `insufficient memory on 3 nodes`. */
  explain(detail: string, count: number): string;
  /** The reason on one named node: `insufficient memory`. */
  describe(detail: string): string;
}

/** `1 node`, `3 nodes`. */
export function countNodes(count: number): string {
  return `${count} node${count === 1 ? '' : 's'}`;
}
