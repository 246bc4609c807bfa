import type { Diagnostic, DiagnosticCode, Location } from '../diagnostics.js';

/**
 * A YAML value that remembers where it came from. Anchors, aliases and merge keys are already resolved, so the
 * tree is plain data; every node and every map key keeps its file:line:col, which survives interpolation and
 * the merging of several files, and lets a problem found late (a bad port, a missing network) point at the
 * exact place in the exact file.
 */
export type LNode = LScalar | LMap | LSeq;

export interface LScalar {
  kind: 'scalar';
  value: string | number | boolean | null;
  loc: Location;
  /** A YAML tag such as `!reset` or `!override`, when one was written. */
  tag?: string;
}

export interface LEntry {
  key: string;
  keyLoc: Location;
  value: LNode;
}

export interface LMap {
  kind: 'map';
  entries: Map<string, LEntry>;
  loc: Location;
  tag?: string;
}

export interface LSeq {
  kind: 'seq';
  items: LNode[];
  loc: Location;
  tag?: string;
}

export type PathSegment = string | number;

/** The plain JavaScript value of a located tree. */
export function toPlain(node: LNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toPlain);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [key, entry] of node.entries) out[key] = toPlain(entry.value);
      return out;
    }
  }
}

export interface Located {
  /** The value's own place, or the deepest existing ancestor's when the path does not exist. */
  loc: Location;
  /** The place of the last key on the path, when the path ends in a map entry. */
  keyLoc?: Location;
  /** Whether the whole path exists. */
  exact: boolean;
  /** The node the path points at, when it exists. */
  node?: LNode;
}

/** Finds where a path points. Paths from validation may run past what exists; the deepest node found is used. */
export function locate(root: LNode, path: readonly PathSegment[]): Located {
  let node: LNode = root;
  let keyLoc: Location | undefined;
  for (const segment of path) {
    let next: LNode | undefined;
    if (node.kind === 'map') {
      const entry = node.entries.get(String(segment));
      if (entry) {
        keyLoc = entry.keyLoc;
        next = entry.value;
      }
    } else if (node.kind === 'seq' && typeof segment === 'number') {
      next = node.items[segment];
      keyLoc = undefined;
    } else if (node.kind === 'seq') {
      // A name in a short-syntax list (`networks: [front]`, `environment: [A=1]`) stands for its map key.
      next = node.items.find(
        (item) => item.kind === 'scalar' && (item.value === segment || String(item.value).startsWith(`${segment}=`)),
      );
      keyLoc = next?.loc;
    }
    if (!next) return { loc: node.loc, exact: false };
    node = next;
  }
  return keyLoc ? { loc: node.loc, keyLoc, exact: true, node } : { loc: node.loc, exact: true, node };
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${segment}` : segment;
  }
  return out;
}

/** A diagnostic at a path: at the key that ends the path when `atKey` (unknown or misplaced keys), else the value. */
export function diagnosticAt(
  root: LNode,
  path: readonly PathSegment[],
  code: DiagnosticCode,
  message: string,
  options: { atKey?: boolean; severity?: Diagnostic['severity'] } = {},
): Diagnostic {
  const found = locate(root, path);
  const location = options.atKey && found.keyLoc ? found.keyLoc : found.loc;
  return { severity: options.severity ?? 'error', code, path: formatPath(path), message, location };
}
