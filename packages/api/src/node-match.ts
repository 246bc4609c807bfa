import type { Node } from './gen/flotilla/v1/objects.js';
import { Constraint_Operator, type Placement } from './gen/flotilla/v1/service.js';
import { attributeReader, equalFold, normalizeArch } from './node-attributes.js';

/**
 * Whether a node meets a placement's constraints and platforms, by the same rules as the scheduler's filters
 * (node-attributes.ts): the global orchestrator uses it to decide which nodes should run a task at all.
 */
export function nodeMatches(node: Node, placement: Placement | undefined): boolean {
  return firstFailedConstraint(node, placement) === undefined && platformMatches(node, placement);
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
