import type { Location } from '../diagnostics.js';
import type { LEntry, LMap, LNode } from './located.js';

/** A problem in the shape of a file found while building its tree (a limit, a bad merge key). */
export class TreeError extends Error {
  constructor(
    message: string,
    readonly loc: Location,
  ) {
    super(message);
  }
}

/**
 * A mapping from its explicit entries and its `<<` merge sources: explicit keys win, then earlier sources over
 * later ones (YAML's merge-key rule, which Compose files rely on for `x-` defaults).
 */
export function buildMap(entries: Map<string, LEntry>, merges: LNode[], loc: Location, tag: { tag?: string }): LMap {
  for (const source of merges) {
    const maps = source.kind === 'seq' ? source.items : [source];
    for (const map of maps) {
      if (map.kind !== 'map')
        throw new TreeError('a merge key (<<) must refer to a mapping or a list of mappings', map.loc);
      for (const [key, entry] of map.entries) if (!entries.has(key)) entries.set(key, entry);
    }
  }
  return { kind: 'map', entries, loc, ...tag };
}

/** Tags Compose gives meaning to when files are merged. */
export const KNOWN_TAGS = new Set(['!reset', '!override']);

/** Node budget shared by both YAML front ends, so a "billion laughs" file is refused the same way by either. */
export class NodeBudget {
  private nodes = 0;
  private viaAlias = 0;

  constructor(
    private readonly maxNodes: number,
    private readonly maxDepth: number,
  ) {}

  spend(loc: Location, depth: number, aliased: boolean): void {
    if (depth > this.maxDepth) {
      throw new TreeError(
        `values are nested more than ${this.maxDepth} levels deep: stack files this deep are refused`,
        loc,
      );
    }
    if (++this.nodes > this.maxNodes) {
      const why = this.viaAlias > 0 ? ` once ${this.viaAlias} aliases are expanded (a "billion laughs" file?)` : '';
      throw new TreeError(
        `the file holds more than ${this.maxNodes} values${why}: stack files this large are refused; ` +
          'reduce the use of aliases or split the stack',
        loc,
      );
    }
    if (aliased) this.viaAlias++;
  }
}

/** YAML 1.2 core-schema resolution of a plain scalar, plus the leading-0 octal that Compose's readers use. */
export function resolvePlain(text: string, octal = true): string | number | boolean | null {
  if (octal && /^0[0-7]+$/.test(text)) return Number.parseInt(text, 8);
  if (text === '' || text === '~' || /^(null|Null|NULL)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?[0-9]+$/.test(text)) return Number(text);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) return Number(text);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(text)) return Number.NaN;
  return text;
}
