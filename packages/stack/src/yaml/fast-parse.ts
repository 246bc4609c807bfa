import yaml from 'js-yaml';
import type { Location } from '../diagnostics.js';
import { LIMITS } from '../limits.js';
import { buildMap, KNOWN_TAGS, NodeBudget, resolvePlain, TreeError } from './build-map.js';
import type { LEntry, LNode } from './located.js';

/**
 * The fast YAML front end: js-yaml's loader, several times faster than the `yaml` package, with its listener
 * events turned into the same located tree. It handles the common case only; anything unusual (a syntax error,
 * a duplicate key, an unknown tag, a complex key, a redefined anchor, a limit) returns undefined and the caller
 * uses the `yaml` package, which reports every problem precisely. A differential test keeps the two in step.
 */
export function fastParse(text: string, file: string): LNode | TreeError | undefined {
  if (text.charCodeAt(0) === 0xfeff) return undefined;
  const events = collect(text);
  if (!events) return undefined;
  try {
    return new FastBuilder(text, file, events.anchors).build(events.root, 0, false);
  } catch (err) {
    // A limit is a verdict on the file, not on this parser: it is reported, with its place, without a retry.
    if (err instanceof TreeError) return err;
    if (err instanceof Bail) return undefined;
    throw err;
  }
}

interface Frame {
  start: number;
  end: number;
  kind: string | null;
  result: unknown;
  tag: string | null;
  children: Frame[];
}

class Bail extends Error {}

const SCHEMA = yaml.CORE_SCHEMA.extend(
  [...KNOWN_TAGS].flatMap((tag) =>
    (['scalar', 'sequence', 'mapping'] as const).map((kind) => new yaml.Type(tag, { kind, construct: (d) => d })),
  ),
);

interface LoaderState {
  position: number;
  kind: string | null;
  result: unknown;
  tag: string | null;
  anchor: string | null;
}

function collect(text: string): { root: Frame; anchors: Map<string, Frame> } | undefined {
  const stack: Frame[] = [];
  const roots: Frame[] = [];
  const anchors = new Map<string, Frame>();
  let redefined = false;
  try {
    yaml.load(text, {
      schema: SCHEMA,
      listener(event, state) {
        const s = state as unknown as LoaderState;
        if (event === 'open') {
          stack.push({ start: s.position, end: s.position, kind: null, result: undefined, tag: null, children: [] });
          return;
        }
        const frame = stack.pop();
        if (!frame) return;
        frame.end = s.position;
        frame.kind = s.kind;
        frame.result = s.result;
        frame.tag = s.tag;
        if (s.anchor !== null) {
          if (anchors.has(s.anchor)) redefined = true;
          anchors.set(s.anchor, frame);
        }
        (stack.at(-1)?.children ?? roots).push(frame);
      },
    });
  } catch {
    // A syntax error: the `yaml` package reports it, with its place.
    return undefined;
  }
  const root = roots[0];
  if (redefined || roots.length !== 1 || !root) return undefined;
  return { root, anchors };
}

class FastBuilder {
  private readonly budget = new NodeBudget(LIMITS.maxNodes, LIMITS.maxDepth);
  private readonly lineStarts: number[] = [0];

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly anchors: Map<string, Frame>,
  ) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
  }

  private at(offset: number): Location {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, col: offset - (this.lineStarts[lo] as number) + 1 };
  }

  /** Where a node's content begins: past white space, comments, anchors and tags. */
  private contentStart(frame: Frame): number {
    const t = this.text;
    let i = frame.start;
    for (;;) {
      while (i < frame.end && isSpace(t.charCodeAt(i))) i++;
      const c = t.charCodeAt(i);
      if (c === HASH) {
        while (i < t.length && t.charCodeAt(i) !== NEWLINE) i++;
      } else if (c === AMPERSAND || c === BANG) {
        while (i < t.length && !isSpace(t.charCodeAt(i))) i++;
      } else {
        return i;
      }
    }
  }

  /** Nested frames of one node (block scalars, explicit keys) share its start; the outer one has the value. */
  build(outer: Frame, depth: number, aliased: boolean): LNode {
    // A flow collection in a block context comes as two frames, one wrapping the other around the same object.
    let frame = outer;
    for (let inner = frame.children[0]; frame.children.length === 1 && inner; inner = frame.children[0]) {
      if (inner.kind !== frame.kind || inner.result !== frame.result || typeof inner.result !== 'object') break;
      frame = inner;
    }
    const start = this.contentStart(frame);
    // An empty value sits right where it would start (just past the key's colon), as the `yaml` package puts it.
    const empty = frame.kind === null && start >= frame.end;
    const loc = this.at(empty ? frame.start : start);
    this.budget.spend(loc, depth, aliased);
    const tag = frame.tag && KNOWN_TAGS.has(frame.tag) ? { tag: frame.tag } : {};
    if (frame.tag && !KNOWN_TAGS.has(frame.tag) && !frame.tag.startsWith('tag:yaml.org,2002:') && frame.tag !== '?') {
      throw new Bail();
    }

    if (this.text[start] === '*' && frame.kind === null) {
      const name = /^\*([^\s,[\]{}]+)/.exec(this.text.slice(start, start + 1024))?.[1];
      const target = name ? this.anchors.get(name) : undefined;
      if (!target) throw new Bail();
      return this.build(target, depth + 1, true);
    }
    if (frame.kind === 'sequence') {
      return { kind: 'seq', items: frame.children.map((c) => this.build(c, depth + 1, aliased)), loc, ...tag };
    }
    if (frame.kind === 'mapping') return this.buildMapping(frame, loc, depth, aliased, tag);
    if (frame.kind === null) {
      // A tag on nothing (`m: !override`) is rare and read differently by the two parsers: leave it to the other.
      if (this.text.slice(frame.start, frame.end).includes('!')) throw new Bail();
      return { kind: 'scalar', value: null, loc, ...tag };
    }
    return { kind: 'scalar', value: this.scalar(frame, start), loc, ...tag };
  }

  private scalar(frame: Frame, start: number): string | number | boolean | null {
    const value = frame.result;
    const c = this.text[start];
    const quotedOrBlock = c === '"' || c === "'" || c === '|' || c === '>';
    const explicitTag = this.text.slice(frame.start, start).includes('!');
    if (quotedOrBlock || explicitTag) {
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
        return value as string | number | boolean | null;
      throw new Bail();
    }
    // Plain scalars are resolved from their text with the rules the precise front end uses (YAML 1.2 core plus
    // Compose's leading-0 octal), so both front ends give the same value whatever js-yaml made of it.
    if (typeof value === 'string') return resolvePlain(value);
    return resolvePlain(this.text.slice(start, frame.end).trimEnd());
  }

  private buildMapping(frame: Frame, loc: Location, depth: number, aliased: boolean, tag: { tag?: string }) {
    if (frame.children.length % 2 !== 0) throw new Bail();
    const entries = new Map<string, LEntry>();
    const merges: LNode[] = [];
    for (let i = 0; i < frame.children.length; i += 2) {
      const keyFrame = frame.children[i] as Frame;
      if (keyFrame.kind !== 'scalar') throw new Bail();
      const keyStart = this.contentStart(keyFrame);
      const keyLoc = this.at(keyStart);
      const value = this.build(frame.children[i + 1] as Frame, depth + 1, aliased);
      const quoted = ['"', "'"].includes(this.text[keyStart] as string);
      if (quoted && typeof keyFrame.result !== 'string') throw new Bail();
      // Keys are resolved like yaml's core schema (no octal), then used as text, as the other front end does.
      const plain = quoted ? undefined : resolvePlain(this.text.slice(keyStart, keyFrame.end).trimEnd(), false);
      if (!quoted && plain === '<<') {
        merges.push(value);
        continue;
      }
      const key = quoted ? (keyFrame.result as string) : String(plain ?? '');
      entries.set(key, { key, keyLoc, value });
    }
    return buildMap(entries, merges, loc, tag);
  }
}

const HASH = 0x23;
const NEWLINE = 0x0a;
const AMPERSAND = 0x26;
const BANG = 0x21;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
