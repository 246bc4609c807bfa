import * as z from 'zod';
import { parseDuration } from '../values/index.js';
import { bool, parsed, strictObject } from './primitives.js';

/** Flotilla's own service settings: an extension key, which Compose and other tools ignore. */
export const FLOTILLA_KEY = 'x-flotilla';

/** `stop_after`: a duration, or `never`. */
const stopAfter = z.union([z.literal('never'), parsed(parseDuration)]);

/**
 * `disconnect:` what happens to the service's tasks while their node is cut off from the cluster (Nomad's
 * `disconnect` block): how long the node keeps them, and whether the leader replaces them meanwhile.
 */
const disconnect = strictObject({
  stop_after: stopAfter.optional(),
  replace: bool.optional(),
});

export const flotillaServiceSchema = strictObject({
  disconnect: disconnect.optional(),
  /**
   * The service's tasks may run on nodes that run tasks as plain host processes (`agent start --executor
   * process`), without a container's isolation; without it the scheduler refuses such nodes and says why.
   */
  allow_process_executor: bool.optional(),
});

export type FlotillaServiceModel = z.output<typeof flotillaServiceSchema>;
