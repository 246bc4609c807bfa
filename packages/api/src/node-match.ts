import { type Node, NodeSpec_Availability, NodeStatus_State } from './gen/flotilla/v1/objects.js';
import { Constraint_Operator, type Placement } from './gen/flotilla/v1/service.js';
import { attributeReader, equalFold, normalizeArch } from './node-attributes.js';

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

/** The first constraint the node fails, written as in the stack file (`node.labels.zone==b`). */
export function firstFailedConstraint(node: Node, placement: Placement | undefined): string | undefined {
  for (const c of placement?.constraints ?? []) {
    const read = attributeReader(c.field);
    const equal = c.operator !== Constraint_Operator.OPERATOR_NEQ;
    const text = `${c.field}${equal ? '==' : '!='}${c.value}`;
    // An attribute placement does not know satisfies neither operator; a missing label reads as ''.
    if (!read || equalFold(read(node) ?? '', c.value) !== equal) return text;
  }
  return undefined;
}

export function platformMatches(node: Node, placement: Placement | undefined): boolean {
  const platforms = placement?.platforms ?? [];
  if (platforms.length === 0) return true;
  const os = (node.description?.os ?? '').toLowerCase();
  const arch = normalizeArch(node.description?.architecture ?? '');
  return platforms.some(
    (p) => (!p.os || p.os.toLowerCase() === os) && (!p.architecture || normalizeArch(p.architecture) === arch),
  );
}
