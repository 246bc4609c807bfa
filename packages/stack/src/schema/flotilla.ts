import { MAX_REPLICAS } from '@flotilla/api';
import * as z from 'zod';
import { parseDuration } from '../values/index.js';
import { bool, int, parsed, strictObject } from './primitives.js';

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
  /**
   * `deploy.mode: replicated-job` only (Docker's `--max-concurrent` and `--replicas` of a job, which Compose has no
   * key for): tasks running at once, and successful completions the job needs. Both default to the replicas.
   */
  max_concurrent: int(1, MAX_REPLICAS).optional(),
  total_completions: int(1, MAX_REPLICAS).optional(),
});

export type FlotillaServiceModel = z.output<typeof flotillaServiceSchema>;
