import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Node as YamlNode,
} from 'yaml';
import type { Diagnostic, Location } from '../diagnostics.js';
import { LIMITS } from '../limits.js';
import { buildMap, KNOWN_TAGS, NodeBudget, TreeError } from './build-map.js';
import { fastParse } from './fast-parse.js';
import type { LEntry, LMap, LNode } from './located.js';
import { plainParse } from './plain-parse.js';

export interface ParsedYaml {
  root?: LNode;
  diagnostics: Diagnostic[];
}

/**
 * Parses one YAML file into a located tree. Syntax errors, duplicate keys and exceeded limits come back as
 * diagnostics, never as exceptions: the caller can report every problem of every file at once.
 */
export type ParseMode = 'plain' | 'located' | 'precise';

/**
 * `plain`: fastest, no positions (every location is line 0), for a first pass over a stack that is likely valid;
 * `located`: positions from js-yaml's events; `precise`: the `yaml` package, which also reports every syntax
 * problem. Each mode falls back to the next when it meets something it does not handle.
 */
export function parseYaml(text: string, file: string, options: { mode?: ParseMode } = {}): ParsedYaml {
  const mode = options.mode ?? 'located';
  const diagnostics: Diagnostic[] = [];
  const lineCounter = new LineCounter();
  const at = (offset: number): Location => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };

  // The YAML parser recurses on flow collections; a file of nested brackets is refused before it gets there.
  const flowDepth = deepestFlowNesting(text);
  if (flowDepth.depth > LIMITS.maxDepth) {
    const before = text.slice(0, flowDepth.offset);
    const line = before.split('\n').length;
    const col = flowDepth.offset - before.lastIndexOf('\n');
    diagnostics.push(depthDiagnostic({ file, line, col }));
    return { diagnostics };
  }

  const fast =
    (mode === 'plain' ? plainParse(text, file) : undefined) ?? (mode !== 'precise' ? fastParse(text, file) : undefined);
  if (fast instanceof TreeError) {
    diagnostics.push({
      severity: 'error',
      code: 'limit-exceeded',
      path: '',
      message: fast.message,
      location: fast.loc,
    });
    return { diagnostics };
  }
  if (fast) return { root: fast, diagnostics };

  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, merge: true, prettyErrors: false });
  for (const err of doc.errors) {
    const duplicate = err.code === 'DUPLICATE_KEY';
    diagnostics.push({
      severity: 'error',
      code: duplicate ? 'duplicate-key' : 'yaml-syntax',
      path: '',
      message: duplicate
        ? 'duplicate key: each key may appear only once in a mapping; remove or rename one of them'
        : `YAML syntax error: ${firstLine(err.message)}`,
      location: at(err.pos[0]),
    });
  }
  for (const warning of doc.warnings) {
    if (warning.code === 'TAG_RESOLVE_FAILED' && [...KNOWN_TAGS].some((t) => warning.message.endsWith(t))) continue;
    diagnostics.push({
      severity: 'warning',
      code: 'yaml-syntax',
      path: '',
      message: firstLine(warning.message),
      location: at(warning.pos[0]),
    });
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  if (doc.contents === null) return { diagnostics };

  const builder = new TreeBuilder(doc, at);
  try {
    return { root: builder.build(doc.contents as YamlNode, 0), diagnostics };
  } catch (err) {
    if (!(err instanceof TreeError)) throw err;
    diagnostics.push({ severity: 'error', code: 'limit-exceeded', path: '', message: err.message, location: err.loc });
    return { diagnostics };
  }
}

/** The located tree from the `yaml` package's document: the precise, slower front end. */
class TreeBuilder {
  private readonly budget = new NodeBudget(LIMITS.maxNodes, LIMITS.maxDepth);

  constructor(
    private readonly doc: Document,
    private readonly at: (offset: number) => Location,
  ) {}

  build(node: YamlNode, depth: number, aliased = false): LNode {
    const loc = this.at(node.range?.[0] ?? 0);
    this.budget.spend(loc, depth, aliased);
    const tag = node.tag && KNOWN_TAGS.has(node.tag) ? { tag: node.tag } : {};

    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) return { kind: 'scalar', value: null, loc };
      return this.build(target as YamlNode, depth + 1, true);
    }
    if (isScalar(node)) {
      // Compose's YAML readers take a leading 0 as octal (`mode: 0440`), as YAML 1.1 did.
      const octal = node.type === 'PLAIN' && typeof node.source === 'string' && /^0[0-7]+$/.test(node.source);
      const value = octal ? Number.parseInt(node.source as string, 8) : scalarValue(node.value);
      return { kind: 'scalar', value, loc, ...tag };
    }
    if (isSeq(node)) {
      const items = node.items.map((item) => this.build(item as YamlNode, depth + 1, aliased));
      return { kind: 'seq', items, loc, ...tag };
    }
    if (isMap(node)) return this.buildMapping(node.items, loc, depth, aliased, tag);
    return { kind: 'scalar', value: null, loc };
  }

  private buildMapping(items: unknown[], loc: Location, depth: number, aliased: boolean, tag: { tag?: string }): LMap {
    const entries = new Map<string, LEntry>();
    const merges: LNode[] = [];
    for (const pair of items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as YamlNode | null;
      const keyLoc = keyNode?.range ? this.at(keyNode.range[0]) : loc;
      const value: LNode = pair.value
        ? this.build(pair.value as YamlNode, depth + 1, aliased)
        : { kind: 'scalar', value: null, loc: keyLoc };
      const rawKey = isScalar(keyNode) ? keyNode.value : keyNode;
      if (typeof rawKey === 'symbol' || rawKey === '<<') {
        merges.push(value);
        continue;
      }
      const key =
        rawKey === null || rawKey === undefined ? '' : typeof rawKey === 'object' ? '[object]' : String(rawKey);
      entries.set(key, { key, keyLoc, value });
    }
    return buildMap(entries, merges, loc, tag);
  }
}

function scalarValue(value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number(value);
  return String(value);
}

function depthDiagnostic(location: Location): Diagnostic {
  return {
    severity: 'error',
    code: 'limit-exceeded',
    path: '',
    message: `values are nested more than ${LIMITS.maxDepth} levels deep: stack files this deep are refused`,
    location,
  };
}

/** Deepest nesting of flow brackets outside quotes and comments, and where it is first reached. */
function deepestFlowNesting(text: string): { depth: number; offset: number } {
  let depth = 0;
  let deepest = 0;
  let offset = 0;
  let quote = '';
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (comment) {
      if (c === '\n') comment = false;
    } else if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      comment = true;
    } else if (c === '[' || c === '{') {
      if (++depth > deepest) {
        deepest = depth;
        offset = i;
      }
      if (deepest > LIMITS.maxDepth) break;
    } else if (c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
    }
  }
  return { depth: deepest, offset };
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? message;
}

/** Whether a located tree came from an empty document. */
export function isEmptyMap(node: LNode | undefined): boolean {
  return !node || (node.kind === 'map' && node.entries.size === 0);
}
