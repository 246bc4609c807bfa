import { equalFold } from '@flotilla/api';
import { countNodes, type Filter } from '../filter.js';

/**
 * Every constraint must hold. As in Docker, a missing label reads as the empty string: `node.labels.x==v` fails
 * on a node without the label and `node.labels.x!=v` passes. Values compare case-insensitively (see
 * node-attributes.ts); an attribute placement does not know satisfies neither operator.
 */
export const constraintFilter: Filter = {
  name: 'constraint',
  isStatic: true,
  appliesTo: (group) => group.constraints.length > 0,
  check(state, group) {
    const node = state.node;
    for (const c of group.constraints) {
      if (c.read === undefined || node === undefined) return c.text;
      const matches = equalFold(c.read(node) ?? '', c.value);
      if (matches !== c.equal) return c.text;
    }
    return undefined;
  },
  explain: (detail, count) => `constraint ${detail} on ${countNodes(count)}`,
  describe: (detail) => `constraint ${detail} not satisfied`,
};
