import { type Node, NodeSpec_Role } from './gen/flotilla/v1/objects.js';

/**
 * Node attributes named as in Swarm constraints and placement preferences. Following Docker (the constraint
 * matcher in moby's swarmkit and daemon), the attribute name is matched case-insensitively, a label key is
 * case-sensitive, and values are compared case-insensitively.
 */
export type AttributeReader = (node: Node) => string | undefined;

const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';

/** undefined when the name is not an attribute placement knows. The reader gives undefined for a missing label. */
export function attributeReader(name: string): AttributeReader | undefined {
  const lower = name.trim().toLowerCase();
  switch (lower) {
    case 'node.id':
      return (node) => node.id;
    case 'node.hostname':
      return (node) => node.description?.hostname ?? '';
    case 'node.role':
      return (node) => roleName(node.spec?.role);
    case 'node.platform.os':
      return (node) => node.description?.os ?? '';
    case 'node.platform.arch':
      return (node) => node.description?.architecture ?? '';
  }
  const trimmed = name.trim();
  if (lower.startsWith(NODE_LABELS) && trimmed.length > NODE_LABELS.length) {
    const key = trimmed.slice(NODE_LABELS.length);
    return (node) => labelValue(node.spec?.labels, key);
  }
  if (lower.startsWith(ENGINE_LABELS) && trimmed.length > ENGINE_LABELS.length) {
    const key = trimmed.slice(ENGINE_LABELS.length);
    return (node) => labelValue(node.description?.engineLabels, key);
  }
  return undefined;
}

/** Own properties only: a label named `constructor` must not read Object.prototype. */
function labelValue(labels: Record<string, string> | undefined, key: string): string | undefined {
  return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

function roleName(role: NodeSpec_Role | undefined): string {
  if (role === NodeSpec_Role.ROLE_MANAGER) return 'manager';
  if (role === NodeSpec_Role.ROLE_WORKER) return 'worker';
  return '';
}

/** Go's strings.EqualFold, closely enough for the ASCII names and values constraints hold. */
export function equalFold(a: string, b: string): boolean {
  return a === b || (a.length === b.length && a.toLowerCase() === b.toLowerCase());
}

const ARCH_ALIASES = new Map([
  ['x86_64', 'amd64'],
  ['aarch64', 'arm64'],
  ['armhf', 'arm'],
]);

/** Engines report `x86_64` where images say `amd64`: a platform filter must treat them as one architecture. */
export function normalizeArch(arch: string): string {
  const lower = arch.toLowerCase();
  return ARCH_ALIASES.get(lower) ?? lower;
}
