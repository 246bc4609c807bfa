import { countNodes, type Filter } from '../filter.js';

/** max_replicas_per_node: tasks of the same service on one node, counted and placed, stay within the limit. */
export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  isStatic: false,
  appliesTo: (group) => group.maxReplicas > 0,
  // `svc` holds the group's service count on the node: the snapshot loads it before any dynamic check.
  check: (state, group) => (state.svc >= group.maxReplicas ? String(group.maxReplicas) : undefined),
  explain: (detail, count) => `max replicas per node (${detail}) reached on ${countNodes(count)}`,
  describe: (detail) => `max replicas per node (${detail}) reached`,
};
