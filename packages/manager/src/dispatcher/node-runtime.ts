import { DESCRIPTION_METADATA_KEY } from '@flotilla/agent';
import { Code, FlotillaError, type NodeDescription, NodeDescription as NodeDescriptionCodec } from '@flotilla/api';
import type { Metadata } from '@grpc/grpc-js';
import { checkDescription } from '../input-limits.js';

/**
 * How a node runs tasks, as its agent says at the start of each session (see NodeDescription.executor), and what
 * it offers them (CPUs, memory) when it says so: an agent that reports no capacity keeps the stored one.
 */
export type NodeRuntime = Pick<NodeDescription, 'executor' | 'runtime' | 'runtimeVersion'> &
  Partial<Pick<NodeDescription, 'nanoCpus' | 'memoryBytes'>>;

/**
 * The runtime an agent describes in its session call's metadata; undefined when it describes none (an agent from
 * before executors were reported: its node's description stays as stored). One that cannot be read, or is over
 * the limits, is refused: the node would otherwise be taken for one that isolates its tasks.
 */
export function nodeRuntime(metadata: Metadata): NodeRuntime | undefined {
  const [value] = metadata.get(DESCRIPTION_METADATA_KEY);
  if (value === undefined) return undefined;
  let description: NodeDescription;
  try {
    description = NodeDescriptionCodec.decode(typeof value === 'string' ? Buffer.from(value) : value);
  } catch (err) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `the node description sent with the session cannot be read (${(err as Error).message}): upgrade the agent`,
      { reason: 'invalid' },
    );
  }
  checkDescription(description);
  return {
    executor: description.executor,
    runtime: description.runtime,
    runtimeVersion: description.runtimeVersion,
    ...(description.nanoCpus > 0n ? { nanoCpus: description.nanoCpus } : {}),
    ...(description.memoryBytes > 0n ? { memoryBytes: description.memoryBytes } : {}),
  };
}

/** Whether the node's stored description already says what the agent reported. */
export function runtimeKnown(description: NodeDescription | undefined, reported: NodeRuntime): boolean {
  return (
    (description?.executor ?? '') === reported.executor &&
    (description?.runtime ?? '') === reported.runtime &&
    (description?.runtimeVersion ?? '') === reported.runtimeVersion &&
    (reported.nanoCpus === undefined || description?.nanoCpus === reported.nanoCpus) &&
    (reported.memoryBytes === undefined || description?.memoryBytes === reported.memoryBytes)
  );
}
