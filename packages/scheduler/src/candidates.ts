import { Heap } from './heap.js';
import type { NodeState } from './node-state.js';
import type { NodeOrder } from './scoring.js';

/**
 * The candidate nodes of one leaf of the spread tree, best first.
 *
 * A group of k tasks takes at most k nodes, so when a leaf is much larger than k (a one-replica service on 5,000
 * nodes) only the best k + 1 are chosen, in one pass, and kept in a heap; the others are not ordered at all. Only
 * nodes in the heap change key, so while one of them has neither taken a task nor been dropped, it is no worse
 * than any node left out, and the heap's root is the best of all. Should that run out (a group whose nodes keep
 * failing its dynamic filters), the nodes left out join the heap.
 */
export class Candidates {
  private heap: Heap<NodeState>;
  /** The nodes chosen for the heap while others are left out; undefined once every node is in the heap. */
  private chosen: Set<NodeState> | undefined;
  private readonly touched = new Set<NodeState>();
  /** Chosen nodes that have neither taken a task nor been dropped. */
  private untouched = 0;

  /** Reads `nodes` and never changes the array; `tasks` is how many tasks the group can place here at most. */
  constructor(
    private readonly nodes: readonly NodeState[],
    private readonly order: NodeOrder,
    tasks: number,
  ) {
    const keep = tasks + 1;
    if (nodes.length <= 4 * keep) {
      this.heap = new Heap([...nodes], order);
      return;
    }
    // A max-heap of the best `keep` seen so far: each other node costs one comparison with the worst of them.
    const best = new Heap(nodes.slice(0, keep), (a, b) => order(b, a));
    let worst = best.peek() as NodeState;
    for (let i = keep; i < nodes.length; i++) {
      const node = nodes[i] as NodeState;
      if (order(node, worst) < 0) {
        best.replaceRoot(node);
        worst = best.peek() as NodeState;
      }
    }
    const chosen = best.drain();
    this.chosen = new Set(chosen);
    this.heap = new Heap(chosen, order);
    this.untouched = keep;
  }

  peek(): NodeState | undefined {
    if (this.chosen !== undefined && this.untouched === 0) this.release(this.chosen);
    return this.heap.peek();
  }

  /** Drops the root: it cannot take the group's tasks. */
  pop(): void {
    const root = this.heap.pop();
    if (root !== undefined && this.chosen !== undefined && !this.touched.has(root)) this.untouched--;
  }

  /** The root took a task. */
  rootChanged(): void {
    const root = this.heap.peek();
    if (root !== undefined && this.chosen !== undefined && !this.touched.has(root)) {
      this.touched.add(root);
      this.untouched--;
    }
    this.heap.rootChanged();
  }

  /** Chosen nodes are in the heap still or were dropped; the rest join them. */
  private release(chosen: Set<NodeState>): void {
    const all = this.heap.drain();
    for (const node of this.nodes) if (!chosen.has(node)) all.push(node);
    this.heap = new Heap(all, this.order);
    this.chosen = undefined;
  }
}
