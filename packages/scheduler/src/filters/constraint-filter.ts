import { failedConstraint } from '@flotilla/api';
import { countNodes, type Filter } from '../filter.js';

/**
 * Every constraint must hold, by the one rule of @flotilla/api (`failedConstraint`), compiled once per group.
 */
export const constraintFilter: Filter = {
  name: 'constraint',
  isStatic: true,
  appliesTo: (group) => group.constraints.length > 0,
  check(state, group) {
    if (state.node === undefined) return group.constraints[0]?.text;
    return failedConstraint(state.node, group.constraints);
  },
  explain: (detail, count) => `constraint ${detail} on ${countNodes(count)}`,
  describe: (detail) => `constraint ${detail} not satisfied`,
};
