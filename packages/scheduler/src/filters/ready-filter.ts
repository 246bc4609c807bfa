import { NodeSpec_Availability, NodeStatus_State } from '@flotilla/api';
import { countNodes, type Filter } from '../filter.js';

/**
 * Only a ready, active node takes new tasks: pause and drain refuse them. A node whose availability was never set
 * counts as active, Swarm's default; readiness, though, must have been reported.
 */
export const readyFilter: Filter = {
  name: 'ready',
  isStatic: true,
  appliesTo: () => true,
  check(state) {
    const node = state.node;
    if (node?.status?.state !== NodeStatus_State.STATE_READY) return 'not ready';
    const availability = node.spec?.availability;
    if (availability === NodeSpec_Availability.AVAILABILITY_PAUSE) return 'paused';
    if (availability === NodeSpec_Availability.AVAILABILITY_DRAIN) return 'drained';
    return undefined;
  },
  explain: (detail, count) => `${countNodes(count)} ${detail}`,
  describe: (detail) => detail,
};
