import { platformFits } from '@flotilla/api';
import { countNodes, type Filter } from '../filter.js';

/** A task that names platforms (its image's) runs only on a node whose OS and architecture match one of them. */
export const platformFilter: Filter = {
  name: 'platform',
  isStatic: true,
  appliesTo: (group) => group.platforms.length > 0,
  check(state, group) {
    return state.node !== undefined && platformFits(state.node, group.platforms) ? undefined : group.platformText;
  },
  explain: (detail, count) => `platform ${detail} not supported on ${countNodes(count)}`,
  describe: (detail) => `platform ${detail} not supported`,
};
