import { countNodes, type Filter } from '../filter.js';

/**
 * Reservations must fit in what the node reports minus what its counted tasks reserve. A node that reports no
 * capacity for a resource fits no task that reserves some of it.
 */
export const resourceFilter: Filter = {
  name: 'resources',
  isStatic: false,
  appliesTo: (group) => group.usage.cpu > 0 || group.usage.memory > 0,
  check(state, group) {
    const { cpu, memory } = group.usage;
    if (cpu > 0 && state.cpuCapacity - state.cpuReserved < cpu) return 'cpu';
    if (memory > 0 && state.memoryCapacity - state.memoryReserved < memory) return 'memory';
    return undefined;
  },
  explain: (detail, count) => `insufficient ${detail} on ${countNodes(count)}`,
  describe: (detail) => `insufficient ${detail}`,
};
