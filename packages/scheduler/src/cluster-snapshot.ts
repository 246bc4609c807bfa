import type { Node, Task } from '@flotilla/api';
import { FailureTally } from './failure-tally.js';
import { NodeState } from './node-state.js';
import { FILTERS, GroupPipeline } from './pipeline.js';
import { orderFor } from './scoring.js';
import { SpreadTree } from './spread-tree.js';
import { groupPending, type TaskGroup } from './task-group.js';
import type { TaskUsage } from './task-usage.js';
import { usageOf } from './task-usage.js';
import { assignRanks, compareStrings } from './tie-break.js';
import type { PlacementResult, PlaceOptions, Strategy } from './types.js';

/** Nodes that pass a group's static filters, and the tally of those that do not. */
interface Eligibility {
  readonly eligible: readonly NodeState[];
  readonly tally: FailureTally;
}

interface TaskRecord {
  readonly state: NodeState;
  readonly usage: TaskUsage;
}

/** Signatures kept between calls; a cluster with more distinct placements than this recomputes a few. */
const MAX_CACHED_SIGNATURES = 4096;

/**
 * The cluster as placement sees it, built once and updated as nodes and tasks change, so that the manager's
 * scheduler loop does not rebuild 5,000 nodes' accounting for every batch. place() is a pure decision over this
 * state; it records its own assignments so the next call sees them (addTask of the same task later is a no-op
 * change, and removeTask undoes an assignment the store refused).
 */
export class ClusterSnapshot {
  private readonly states = new Map<string, NodeState>();
  private readonly tasks = new Map<string, TaskRecord>();
  /** Service id → node → tasks of that service counted on the node. */
  private readonly services = new Map<string, Map<NodeState, number>>();
  /** Nodes with a Node, by id; rebuilt lazily after a node change. */
  private nodeList: NodeState[] | undefined;
  private readonly eligibility = new Map<string, Eligibility>();
  private rankedFor: number | undefined;

  constructor(nodes: Iterable<Node> = [], running: Iterable<Task> = []) {
    for (const node of nodes) this.upsertNode(node);
    for (const task of running) this.addTask(task);
  }

  get nodeCount(): number {
    return this.nodes().length;
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  upsertNode(node: Node): void {
    this.stateFor(node.id).setNode(node);
    this.nodesChanged();
  }

  removeNode(nodeId: string): void {
    const state = this.states.get(nodeId);
    if (state?.node === undefined) return;
    state.setNode(undefined);
    // Tasks still counted on a removed node keep their accounting until they are removed too.
    if (state.tasks === 0) this.states.delete(nodeId);
    this.nodesChanged();
  }

  /** Counts a task on its node (replacing what was counted for the same id). A task without a node is removed. */
  addTask(task: Task): void {
    this.removeTask(task.id);
    if (!task.nodeId) return;
    this.record(task.id, this.stateFor(task.nodeId), usageOf(task));
  }

  removeTask(taskId: string): void {
    const record = this.tasks.get(taskId);
    if (record === undefined) return;
    this.tasks.delete(taskId);
    const { state, usage } = record;
    state.remove(usage);
    const perNode = this.services.get(usage.serviceId);
    const count = (perNode?.get(state) ?? 0) - 1;
    if (count > 0) perNode?.set(state, count);
    else perNode?.delete(state);
    if (perNode?.size === 0) this.services.delete(usage.serviceId);
    if (state.node === undefined && state.tasks === 0) this.states.delete(state.id);
  }

  /**
   * Places pending tasks. Pinned tasks go first, all groups, since they have no other node to go to; then each
   * group in (service, spec version) order, tasks in slot order.
   */
  place(pending: readonly Task[], options: PlaceOptions = {}): PlacementResult {
    const strategy: Strategy = options.strategy ?? 'spread';
    const seed = options.seed ?? 0;
    this.rank(seed);
    const result: PlacementResult = { assigned: [], unplaced: [] };
    const groups = groupPending(pending);
    for (const group of groups) if (group.pinned.length > 0) this.placePinned(group, result);
    for (const group of groups) if (group.free.length > 0) this.placeFree(group, strategy, seed, result);
    return result;
  }

  private placePinned(group: TaskGroup, result: PlacementResult): void {
    const pipeline = new GroupPipeline(group);
    for (const task of group.pinned) {
      const state = this.states.get(task.nodeId);
      if (state?.node === undefined) {
        result.unplaced.push({
          taskId: task.id,
          message: `no suitable node (node ${task.nodeId} is not in the cluster)`,
        });
        continue;
      }
      state.svc = this.services.get(group.serviceId)?.get(state) ?? 0;
      const failure = pipeline.failure(state);
      if (failure !== undefined) {
        const reason = failure.filter.describe(failure.detail);
        // A sidecar's node is its main task's: it waits there, and says so.
        const message = task.mainTaskId
          ? `no suitable node (node ${state.id} of its main task ${task.mainTaskId}: ${reason}); a sidecar runs only beside its main task: relax the sidecar's constraints or constrain the main service to nodes that fit both`
          : `no suitable node (node ${state.id}: ${reason})`;
        result.unplaced.push({ taskId: task.id, message });
        continue;
      }
      this.assign(task.id, group, state, result);
    }
  }

  private placeFree(group: TaskGroup, strategy: Strategy, seed: number, result: PlacementResult): void {
    const pipeline = new GroupPipeline(group);
    const { eligible, tally: staticTally } = this.eligible(group, pipeline);
    this.loadScratch(group, eligible);
    const tree = new SpreadTree(eligible, group.preferences, orderFor(strategy), seed, group.free.length);
    const tally = staticTally.clone();
    const fits = pipeline.hasDynamic
      ? (node: NodeState) => {
          const failure = pipeline.dynamicFailure(node);
          if (failure === undefined) return true;
          tally.add(failure.filter, failure.detail);
          return false;
        }
      : () => true;
    for (let i = 0; i < group.free.length; i++) {
      const task = group.free[i] as Task;
      const node = tree.pick(fits);
      if (node === undefined) {
        const message = tally.message();
        for (let j = i; j < group.free.length; j++) {
          result.unplaced.push({ taskId: (group.free[j] as Task).id, message });
        }
        return;
      }
      this.assign(task.id, group, node, result);
      tree.placed();
    }
  }

  private assign(taskId: string, group: TaskGroup, state: NodeState, result: PlacementResult): void {
    this.record(taskId, state, group.usage);
    state.svc++;
    result.assigned.push({ taskId, nodeId: state.id });
  }

  private record(taskId: string, state: NodeState, usage: TaskUsage): void {
    this.tasks.set(taskId, { state, usage });
    state.add(usage);
    let perNode = this.services.get(usage.serviceId);
    if (perNode === undefined) {
      perNode = new Map();
      this.services.set(usage.serviceId, perNode);
    }
    perNode.set(state, (perNode.get(state) ?? 0) + 1);
  }

  /** Static verdicts depend only on nodes and the group's signature: cached until a node changes. */
  private eligible(group: TaskGroup, pipeline: GroupPipeline): Eligibility {
    const cached = this.eligibility.get(group.signature);
    if (cached !== undefined) return cached;
    const eligible: NodeState[] = [];
    const tally = new FailureTally(FILTERS);
    for (const state of this.nodes()) {
      const failure = pipeline.staticFailure(state);
      if (failure === undefined) eligible.push(state);
      else tally.add(failure.filter, failure.detail);
    }
    if (this.eligibility.size >= MAX_CACHED_SIGNATURES) this.eligibility.clear();
    const verdict = { eligible, tally };
    this.eligibility.set(group.signature, verdict);
    return verdict;
  }

  /** Sets the scratch the order and filters read: the group's service's tasks on each candidate. */
  private loadScratch(group: TaskGroup, eligible: readonly NodeState[]): void {
    for (const state of eligible) state.svc = 0;
    // Only nodes that run the service have a count, so this is proportional to the service, not the cluster.
    const perNode = this.services.get(group.serviceId);
    if (perNode !== undefined) for (const [state, count] of perNode) state.svc = count;
  }

  private rank(seed: number): void {
    if (this.rankedFor === seed) return;
    assignRanks(this.nodes(), seed);
    this.rankedFor = seed;
  }

  private nodes(): NodeState[] {
    if (this.nodeList === undefined) {
      this.nodeList = [...this.states.values()].filter((s) => s.node !== undefined);
      this.nodeList.sort((a, b) => compareStrings(a.id, b.id));
    }
    return this.nodeList;
  }

  private stateFor(nodeId: string): NodeState {
    let state = this.states.get(nodeId);
    if (state === undefined) {
      state = new NodeState(nodeId);
      this.states.set(nodeId, state);
    }
    return state;
  }

  private nodesChanged(): void {
    this.nodeList = undefined;
    this.eligibility.clear();
    this.rankedFor = undefined;
  }
}
