import { countNodes, type Filter } from '../filter.js';

/** A port published in host mode binds on the node itself: two tasks cannot share one (protocol, port). */
export const hostPortFilter: Filter = {
  name: 'host-port',
  isStatic: false,
  appliesTo: (group) => group.usage.ports.length > 0,
  check(state, group) {
    const ports = group.usage.ports;
    for (let i = 0; i < ports.length; i++) {
      if (state.ports.has(ports[i] as number)) return group.portLabels[i];
    }
    return undefined;
  },
  explain: (detail, count) => `host port ${detail} in use on ${countNodes(count)}`,
  describe: (detail) => `host port ${detail} in use`,
};
