import type { AttributeReader } from '@flotilla/api';
import { Candidates } from './candidates.js';
import { Heap } from './heap.js';
import type { NodeState } from './node-state.js';
import type { NodeOrder } from './scoring.js';
import { compareStrings, hash32 } from './tie-break.js';

/**
 * Nodes grouped by placement preferences, as Swarm does: one level per `spread` preference, one branch per value
 * of that attribute (nodes missing it form a branch of their own), candidate nodes at the leaves.
 * Each pick goes down the branch with the fewest tasks of the service at every level, then takes the best node
 * by the strategy's order. With no preference the tree is a single leaf.
 */
interface Branch {
  /** Tasks of the service on the branch's candidate nodes, counted and placed. */
  count: number;
  readonly key: string;
  readonly rank: number;
  readonly children: Heap<Branch> | undefined;
  readonly nodes: Candidates | undefined;
}

const MISSING = '\u0000missing';

const branchOrder = (a: Branch, b: Branch): number =>
  a.count - b.count || a.rank - b.rank || compareStrings(a.key, b.key);

export class SpreadTree {
  private readonly root: Branch;

  /** `nodes`: the candidates, with `svc` loaded (the array is only read). `tasks`: the group's size. */
  constructor(
    nodes: readonly NodeState[],
    private readonly preferences: readonly AttributeReader[],
    private readonly order: NodeOrder,
    private readonly seed: number,
    private readonly tasks: number,
  ) {
    this.root = this.build(nodes, 0, '');
  }

  /**
   * The best node that `fits`, or undefined when none is left. A node that does not fit is dropped for the rest
   * of the group: what it lacks (room, a port, replica headroom) only shrinks while a group is placed.
   */
  pick(fits: (node: NodeState) => boolean): NodeState | undefined {
    return pickFrom(this.root, fits);
  }

  /** The node pick() returned took a task: its key and its branches' counts grew, and they are all roots. */
  placed(): void {
    placedUnder(this.root);
  }

  private build(nodes: readonly NodeState[], level: number, key: string): Branch {
    const reader = this.preferences[level];
    if (reader === undefined) {
      let count = 0;
      // Only branches under a preference compare counts: the root of a tree without preferences needs none.
      if (level > 0) for (const node of nodes) count += node.svc;
      return {
        count,
        key,
        rank: hash32(this.seed, key),
        children: undefined,
        nodes: new Candidates(nodes, this.order, this.tasks),
      };
    }
    // Keyed by the value itself (undefined: the label is missing), so grouping allocates no string per node.
    const byValue = new Map<string | undefined, NodeState[]>();
    for (const node of nodes) {
      const value = node.node === undefined ? undefined : reader(node.node);
      const list = byValue.get(value);
      if (list === undefined) byValue.set(value, [node]);
      else list.push(node);
    }
    const children: Branch[] = [];
    let count = 0;
    for (const [value, list] of byValue) {
      const child = this.build(list, level + 1, `${key}/${value === undefined ? MISSING : `=${value}`}`);
      count += child.count;
      children.push(child);
    }
    return { count, key, rank: hash32(this.seed, key), children: new Heap(children, branchOrder), nodes: undefined };
  }
}

function pickFrom(branch: Branch, fits: (node: NodeState) => boolean): NodeState | undefined {
  const nodes = branch.nodes;
  if (nodes !== undefined) {
    for (let node = nodes.peek(); node !== undefined; node = nodes.peek()) {
      if (fits(node)) return node;
      nodes.pop();
    }
    return undefined;
  }
  const children = branch.children as Heap<Branch>;
  for (let child = children.peek(); child !== undefined; child = children.peek()) {
    const node = pickFrom(child, fits);
    if (node !== undefined) return node;
    children.pop();
  }
  return undefined;
}

function placedUnder(branch: Branch): void {
  branch.count++;
  if (branch.nodes !== undefined) {
    branch.nodes.rootChanged();
    return;
  }
  const children = branch.children as Heap<Branch>;
  placedUnder(children.peek() as Branch);
  children.rootChanged();
}
