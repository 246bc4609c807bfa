import { Code } from './code.js';
import { FlotillaError } from './flotilla-error.js';

/**
 * The most replicas a service may have (stack files, `service scale`, `service update`): every replica is a task
 * the orchestrator makes at once, so an unbounded count would stall the leader.
 */
export const MAX_REPLICAS = 1_000_000;

/** Refuses a replica count over MAX_REPLICAS, naming the service. */
export function checkReplicas(replicas: bigint, service: string): void {
  if (replicas > BigInt(MAX_REPLICAS)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${service}: ${replicas} replicas is more than the ${MAX_REPLICAS} a service may have`,
    );
  }
}

/** `service logs --tail`: the most lines read back per task (the managers refuse more). */
export const MAX_LOG_TAIL = 10_000;
