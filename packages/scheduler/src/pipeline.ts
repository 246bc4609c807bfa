import type { Filter } from './filter.js';
import { constraintFilter } from './filters/constraint-filter.js';
import { executorFilter } from './filters/executor-filter.js';
import { hostPortFilter } from './filters/host-port-filter.js';
import { maxReplicasFilter } from './filters/max-replicas-filter.js';
import { platformFilter } from './filters/platform-filter.js';
import { readyFilter } from './filters/ready-filter.js';
import { resourceFilter } from './filters/resource-filter.js';
import type { NodeState } from './node-state.js';
import type { TaskGroup } from './task-group.js';

/** Every filter, in the order a node is checked: cheap static checks first, then what placement changes. */
export const FILTERS: readonly Filter[] = [
  readyFilter,
  executorFilter,
  platformFilter,
  constraintFilter,
  resourceFilter,
  hostPortFilter,
  maxReplicasFilter,
];

export interface Failure {
  readonly filter: Filter;
  readonly detail: string;
}

/** The filters one group uses, split into static and dynamic so static verdicts can be cached. */
export class GroupPipeline {
  private readonly staticFilters: readonly Filter[];
  private readonly dynamicFilters: readonly Filter[];

  constructor(
    private readonly group: TaskGroup,
    filters: readonly Filter[] = FILTERS,
  ) {
    const used = filters.filter((f) => f.appliesTo(group));
    this.staticFilters = used.filter((f) => f.isStatic);
    this.dynamicFilters = used.filter((f) => !f.isStatic);
  }

  /** False when nothing the group needs changes as tasks are placed: every statically eligible node fits. */
  get hasDynamic(): boolean {
    return this.dynamicFilters.length > 0;
  }

  staticFailure(node: NodeState): Failure | undefined {
    return firstFailure(this.staticFilters, node, this.group);
  }

  dynamicFailure(node: NodeState): Failure | undefined {
    return firstFailure(this.dynamicFilters, node, this.group);
  }

  failure(node: NodeState): Failure | undefined {
    return this.staticFailure(node) ?? this.dynamicFailure(node);
  }
}

function firstFailure(filters: readonly Filter[], node: NodeState, group: TaskGroup): Failure | undefined {
  for (const filter of filters) {
    const detail = filter.check(node, group);
    if (detail !== undefined) return { filter, detail };
  }
  return undefined;
}
