import { type Node, NodeSpec_Availability, NodeStatus_State } from './gen/flotilla/v1/objects.js';
import { Constraint_Operator, type Placement } from './gen/flotilla/v1/service.js';
import { type AttributeReader, attributeReader, equalFold, normalizeArch } from './node-attributes.js';

/**
 * Whether a node meets a placement's constraints and platforms, by the same rules as the scheduler's filters
 * (node-attributes.ts): the global orchestrator uses it to decide which nodes should run a task at all.
 */
export function nodeMatches(node: Node, placement: Placement | undefined): boolean {
  return firstFailedConstraint(node, placement) === undefined && platformMatches(node, placement);
}

/**
 * Whether the node takes new tasks by its availability: pause and drain refuse them; a node whose availability was
 * never set counts as active, Swarm's default.
 */
export function nodeActive(node: Node): boolean {
  const availability = node.spec?.availability;
  return (
    availability !== NodeSpec_Availability.AVAILABILITY_PAUSE &&
    availability !== NodeSpec_Availability.AVAILABILITY_DRAIN
  );
}

/**
 * Whether a global service's task belongs on this node: it is active, not marked down, and meets the placement.
 * The global orchestrator, the rebalancer, the plan preview and `stack deploy --wait` all count nodes by it.
 */
export function nodeEligible(node: Node, placement: Placement | undefined): boolean {
  return nodeActive(node) && node.status?.state !== NodeStatus_State.STATE_DOWN && nodeMatches(node, placement);
}

/** What a node reports as its executor when it runs tasks as plain host processes, without isolation. */
export const PROCESS_EXECUTOR = 'process';

/**
 * Whether the node may run the placement's tasks by the isolation it gives: a node that runs tasks as plain
 * processes takes them only when the service allows it. A node that reports no executor (an agent from before
 * executors were reported) is taken as containerd, so that managers can be upgraded before their agents.
 */
export function executorAllows(node: Node, placement: Placement | undefined, usesFiles = false): boolean {
  // Secrets and configs are mounted into containers: plain processes cannot have them, whatever the service allows.
  return node.description?.executor !== PROCESS_EXECUTOR || (placement?.allowProcessExecutor === true && !usesFiles);
}

/** A constraint ready to test against nodes: its attribute's reader, the operator, and how the file wrote it. */
export interface CompiledConstraint {
  /** Undefined for an attribute placement does not know: it satisfies neither operator. */
  read: AttributeReader | undefined;
  equal: boolean;
  value: string;
  /** As written in the stack file, e.g. `node.labels.zone==b`. */
  text: string;
}

/** A platform a task may run on: lower-case OS and normalized architecture, empty for any. */
export interface CompiledPlatform {
  os: string;
  arch: string;
}

/** A placement's constraints and platforms compiled once, for testing many nodes (the scheduler's groups). */
export function compileConstraints(placement: Placement | undefined): CompiledConstraint[] {
  return (placement?.constraints ?? []).map((c) => {
    const field = c.field.trim();
    // The proto default (unspecified) reads as ==, the operator a constraint without one would mean.
    const equal = c.operator !== Constraint_Operator.OPERATOR_NEQ;
    const value = c.value.trim();
    return { read: attributeReader(field), equal, value, text: `${field}${equal ? '==' : '!='}${value}` };
  });
}

export function compilePlatforms(placement: Placement | undefined): CompiledPlatform[] {
  return (placement?.platforms ?? []).map((p) => ({
    os: p.os.trim().toLowerCase(),
    arch: normalizeArch(p.architecture.trim()),
  }));
}

/**
 * The first constraint the node fails, as written. As in Docker, a missing label reads as the empty string:
 * `node.labels.x==v` fails on a node without the label and `node.labels.x!=v` passes; values compare
 * case-insensitively.
 */
export function failedConstraint(node: Node, constraints: readonly CompiledConstraint[]): string | undefined {
  for (const c of constraints) {
    if (c.read === undefined || equalFold(c.read(node) ?? '', c.value) !== c.equal) return c.text;
  }
  return undefined;
}

/** Whether the node's OS and architecture match one of the platforms (any node, when there are none). */
export function platformFits(node: Node, platforms: readonly CompiledPlatform[]): boolean {
  if (platforms.length === 0) return true;
  const os = (node.description?.os ?? '').toLowerCase();
  const arch = normalizeArch(node.description?.architecture ?? '');
  return platforms.some((p) => (p.os === '' || p.os === os) && (p.arch === '' || p.arch === arch));
}

/** The first constraint the node fails, written as in the stack file (`node.labels.zone==b`). */
export function firstFailedConstraint(node: Node, placement: Placement | undefined): string | undefined {
  return failedConstraint(node, compileConstraints(placement));
}

export function platformMatches(node: Node, placement: Placement | undefined): boolean {
  return platformFits(node, compilePlatforms(placement));
}
