import yaml from 'js-yaml';
import type { Location } from '../diagnostics.js';
import { LIMITS } from '../limits.js';
import { buildMap, KNOWN_TAGS, NodeBudget, resolvePlain, TreeError } from './build-map.js';
import type { LEntry, LNode } from './located.js';

/**
 * The fastest YAML front end: js-yaml's loader with no positions at all. A valid stack needs none, so the
 * loader tries this first and parses again with positions only when there is something to report. Values are
 * resolved exactly as the located front ends resolve them; anything unusual returns undefined.
 */
export function plainParse(text: string, file: string): LNode | undefined {
  // js-yaml turns a complex key (`? [a]` or `[a]: 1`) into text, which would read as an ordinary key here.
  if (text.charCodeAt(0) === 0xfeff || COMPLEX_KEY.test(text)) return undefined;
  let value: unknown;
  try {
    value = yaml.load(text, { schema: SCHEMA });
  } catch {
    // A syntax error: the located front end reports it, with its place.
    return undefined;
  }
  if (value === undefined) return undefined;
  try {
    return new PlainBuilder({ file, line: 0, col: 0 }).build(value, 0);
  } catch (err) {
    if (err instanceof TreeError || err instanceof Bail) return undefined;
    throw err;
  }
}

class Bail extends Error {}

/** An explicit key indicator, or a flow collection followed by a colon: text that may hold a complex key. */
const COMPLEX_KEY = /(^|[\s,[{])\?(\s|$)|[\]}]\s*:(\s|$)/m;

/** A value written with one of the tags Compose reads (`!reset`, `!override`). */
class Tagged {
  constructor(
    readonly tag: string,
    readonly value: unknown,
  ) {}
}

/** An implicit scalar type: a cheap first-character test, then the pattern, then the value. */
const scalar = (tag: string, first: string, pattern: RegExp, construct: (text: string) => unknown) =>
  new yaml.Type(tag, {
    kind: 'scalar',
    resolve: (data: string | null) => {
      const text = data ?? '';
      return first.includes(text.charAt(0)) && pattern.test(text);
    },
    construct: (data: string | null) => construct(data ?? ''),
  });

const NUMBER_START = '0123456789+-.';
/** First characters of plain scalars that can resolve to something other than text (and '' itself). */
const NON_TEXT_START = `~nNtTfF${NUMBER_START}`;

// The YAML 1.2 core schema's implicit types, with the values resolvePlain gives (leading-0 octal included), so
// that this front end and the located ones agree on every plain scalar.
const SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('tag:yaml.org,2002:null', '~nN', /^(~|null|Null|NULL|)$/, () => null),
    scalar('tag:yaml.org,2002:bool', 'tTfF', /^(true|True|TRUE|false|False|FALSE)$/, (t) => 'tT'.includes(t.charAt(0))),
    scalar('tag:yaml.org,2002:int', NUMBER_START, /^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, resolvePlain),
    scalar(
      'tag:yaml.org,2002:float',
      NUMBER_START,
      /^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$/,
      resolvePlain,
    ),
  ],
  explicit: [...KNOWN_TAGS].flatMap((tag) =>
    (['scalar', 'sequence', 'mapping'] as const).map(
      (kind) => new yaml.Type(tag, { kind, construct: (data: unknown) => new Tagged(tag, data) }),
    ),
  ),
});

class PlainBuilder {
  private readonly budget = new NodeBudget(LIMITS.maxNodes, LIMITS.maxDepth);

  constructor(private readonly loc: Location) {}

  build(value: unknown, depth: number): LNode {
    this.budget.spend(this.loc, depth, false);
    const loc = this.loc;
    if (value instanceof Tagged) {
      // A tag on nothing is read differently by the parsers; leave it to the precise one.
      if (value.value === null || value.value === '') throw new Bail();
      return { ...this.build(value.value, depth), tag: value.tag };
    }
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return { kind: 'scalar', value, loc };
    }
    if (Array.isArray(value)) return { kind: 'seq', items: value.map((v) => this.build(v, depth + 1)), loc };
    if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) throw new Bail();
    const entries = new Map<string, LEntry>();
    const merges: LNode[] = [];
    for (const [key, v] of Object.entries(value)) {
      const node = this.build(v, depth + 1);
      // js-yaml stringifies keys; one that looks like anything but text may have been written otherwise.
      if (key === '<<') merges.push(node);
      else if (NON_TEXT_START.includes(key.charAt(0)) && typeof resolvePlain(key, false) !== 'string') throw new Bail();
      else entries.set(key, { key, keyLoc: loc, value: node });
    }
    return buildMap(entries, merges, loc, {});
  }
}
