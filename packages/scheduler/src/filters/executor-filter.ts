import { executorAllows } from '@flotilla/api';
import { countNodes, type Filter } from '../filter.js';

/** How a service allows it, said with every refusal so the user knows the way out. */
const HOW_TO_ALLOW = 'to allow it: x-flotilla: { allow_process_executor: true }';

/** Why even a service that allows them cannot use them. */
const FILES = 'cannot mount secrets or configs: those need a node with the containerd executor';

/**
 * A node that runs tasks as plain host processes (`agent start --executor process`) gives them no container
 * isolation (no image, no user, no namespaces): it takes a service's tasks only when the service allows it.
 */
export const executorFilter: Filter = {
  name: 'executor',
  isStatic: true,
  appliesTo: (group) => !group.allowProcessExecutor,
  check(state, group) {
    if (!state.node || executorAllows(state.node, group.placement, group.usesFiles)) return undefined;
    return group.usesFiles ? 'files' : 'process';
  },
  explain: (detail, count) =>
    `${countNodes(count)} ${count === 1 ? 'runs' : 'run'} tasks as plain processes ${
      detail === 'files' ? `and ${FILES}` : `without isolation (${HOW_TO_ALLOW})`
    }`,
  describe: (detail) =>
    `it runs tasks as plain processes ${detail === 'files' ? `and ${FILES}` : `without isolation (${HOW_TO_ALLOW})`}`,
};
