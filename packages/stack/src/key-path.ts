import type { Location } from './diagnostics.js';
import { type LNode, locate, type PathSegment } from './yaml/located.js';

/**
 * Where a key path (`services.web.cap_add[1]`, as diagnostics and the manager write them) is in the stack's
 * files: the deepest part of it that exists. A name may hold dots (`services.api.v2.user`), so each map key is
 * matched against the keys the file has, the longest first.
 */
export function locateKeyPath(root: LNode, keyPath: string): Location | undefined {
  const segments = splitKeyPath(root, keyPath);
  if (segments.length === 0) return undefined;
  const found = locate(root, segments);
  return found.keyLoc ?? found.loc;
}

function splitKeyPath(root: LNode, keyPath: string): PathSegment[] {
  const out: PathSegment[] = [];
  let node: LNode | undefined = root;
  let rest = keyPath;
  while (rest !== '') {
    const index = /^\[(\d+)\]\.?/.exec(rest);
    if (index) {
      out.push(Number(index[1]));
      node = node?.kind === 'seq' ? node.items[Number(index[1])] : undefined;
      rest = rest.slice(index[0].length);
      continue;
    }
    const key = mapKey(node, rest);
    out.push(key);
    node = node?.kind === 'map' ? node.entries.get(key)?.value : undefined;
    rest = rest.slice(key.length);
    if (rest.startsWith('.')) rest = rest.slice(1);
  }
  return out;
}

/** The key `rest` starts with: the longest key of `node` that `rest` begins with up to a `.` or `[`, else up to one. */
function mapKey(node: LNode | undefined, rest: string): string {
  if (node?.kind === 'map') {
    const keys = [...node.entries.keys()].sort((a, b) => b.length - a.length);
    const match = keys.find((k) => rest.startsWith(k) && ['', '.', '['].includes(rest.charAt(k.length)));
    if (match !== undefined) return match;
  }
  return /^[^.[]*/.exec(rest)?.[0] ?? rest;
}
