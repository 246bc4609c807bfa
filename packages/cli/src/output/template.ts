import { usageError } from '../exit-codes.js';
import { table } from '../table.js';

/*
 * The subset of Go's text/template that `docker ... --format` users script with, over the docker-shaped rows of
 * docker-json.ts and the inspected objects of docker-inspect.ts:
 *   {{.Field}}              a field of the row; {{.}} the whole row
 *   {{.Spec.Mode}}          a field of a field, as deep as the object goes (the inspected objects nest); a field
 *                           that is absent (an unset part of the spec, a label not there) prints nothing
 *   {{json .}} {{json .F}}  JSON of the row or of a field
 *   {{index .F "key"}}      a key of a map field (a label with dots in its name), or an item of a list by number
 *   {{lower .F}} {{upper .F}} {{title .F}}  case
 *   {{join .F ", "}}        an array field joined
 *   {{truncate .F 12}}      the first N characters
 *   {{- ... -}}             trims the white space before/after, as Go does
 *   `table ...`             a header row (the field names in docker's words: DesiredState → DESIRED STATE), then
 *                           aligned columns split at each tab
 *   \t and \n typed literally in the template stand for a tab and a newline, as the docker CLI takes them.
 * No if/range/with: a template that asks for more is refused rather than half run.
 * Fields are checked when the template is read, so an unknown one fails even when the listing is empty.
 */

type Arg =
  | { kind: 'dot' }
  | { kind: 'field'; path: string[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number };
type Part = { kind: 'text'; text: string } | { kind: 'action'; fn: string | undefined; args: Arg[] };

const FUNCS: Record<string, { arity: number; describe: string }> = {
  json: { arity: 1, describe: 'json .Field' },
  index: { arity: 2, describe: 'index .Field "key"' },
  lower: { arity: 1, describe: 'lower .Field' },
  upper: { arity: 1, describe: 'upper .Field' },
  title: { arity: 1, describe: 'title .Field' },
  join: { arity: 2, describe: 'join .Field ", "' },
  truncate: { arity: 2, describe: 'truncate .Field 12' },
};

export interface Template {
  /** Renders the rows: one line a row, or a table under a header row. */
  render(rows: readonly object[]): string;
}

/** Is this --format value a template (as opposed to table, json or raw)? */
export function isTemplate(format: string): boolean {
  return format.includes('{{');
}

function templateError(format: string, why: string): Error {
  return usageError(`--format ${JSON.stringify(format)}: ${why}`);
}

function tokenize(inner: string, format: string): string[] {
  // Words, "quoted strings" (with \ escapes) and `raw strings`, separated by white space.
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s"`]+)\s*/y;
  const tokens: string[] = [];
  while (re.lastIndex < inner.length) {
    const at = re.lastIndex;
    const m = re.exec(inner);
    if (!m)
      throw templateError(format, `cannot read "{{${inner}}}" from "${inner.slice(at).trim()}" (an unclosed quote?)`);
    tokens.push(m[1] as string);
  }
  return tokens;
}

function parseArg(token: string, fields: readonly string[], format: string): Arg {
  if (token === '.') return { kind: 'dot' };
  if (/^(\.[A-Za-z_]\w*)+$/.test(token)) {
    const path = token.slice(1).split('.');
    const name = path[0] as string;
    // The top level is known before any row is read; what lies deeper is checked as the row is walked.
    if (!fields.includes(name)) {
      throw templateError(format, `no field "${name}" here; the fields are ${fields.map((f) => `.${f}`).join(' ')}`);
    }
    return { kind: 'field', path };
  }
  if (token.startsWith('.')) throw templateError(format, `"${token}" is not a field (.Field or .Field.Inner)`);
  if (token.startsWith('"')) return { kind: 'string', value: JSON.parse(token) as string };
  if (token.startsWith('`')) return { kind: 'string', value: token.slice(1, -1) };
  if (/^-?\d+$/.test(token)) return { kind: 'number', value: Number(token) };
  throw templateError(
    format,
    `"${token}" is not something this template subset knows (functions: ${Object.keys(FUNCS).join(', ')})`,
  );
}

function parse(text: string, fields: readonly string[], format: string): Part[] {
  const parts: Part[] = [];
  let rest = text;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      parts.push({ kind: 'text', text: rest });
      break;
    }
    let before = rest.slice(0, open);
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw templateError(format, 'a "{{" has no "}}"');
    let inner = rest.slice(open + 2, close);
    rest = rest.slice(close + 2);
    // {{- and -}} trim white space on their side, as in Go.
    if (/^-\s/.test(inner)) {
      before = before.trimEnd();
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      rest = rest.trimStart();
      inner = inner.slice(0, -1);
    }
    if (before) parts.push({ kind: 'text', text: before });
    const tokens = tokenize(inner, format);
    if (tokens.length === 0) throw templateError(format, 'an empty "{{}}"');
    const [head, ...tail] = tokens as [string, ...string[]];
    if (head in FUNCS) {
      const { arity, describe } = FUNCS[head] as { arity: number; describe: string };
      if (tail.length !== arity) throw templateError(format, `${head} takes ${arity} argument(s): {{${describe}}}`);
      parts.push({ kind: 'action', fn: head, args: tail.map((t) => parseArg(t, fields, format)) });
    } else {
      if (tail.length > 0) {
        throw templateError(
          format,
          `"{{${inner.trim()}}}" is not a field or a known function (${Object.keys(FUNCS).join(', ')})`,
        );
      }
      parts.push({ kind: 'action', fn: undefined, args: [parseArg(head, fields, format)] });
    }
  }
  return parts;
}

/**
 * The value at a field's path. An absent value has no fields and gives nothing (as Go gives for a map's missing
 * key); a string or a number has none either, and asking for one is the template's mistake, as in Go.
 */
function walk(row: Record<string, unknown>, path: readonly string[], format: string): unknown {
  let at: unknown = row;
  for (const [i, name] of path.entries()) {
    if (at === undefined || at === null) return undefined;
    if (typeof at !== 'object' || Array.isArray(at)) {
      const where = `.${path.slice(0, i).join('.')}`;
      throw templateError(
        format,
        `${where} is ${Array.isArray(at) ? 'a list' : `a ${typeof at}`}: it has no field "${name}"`,
      );
    }
    at = (at as Record<string, unknown>)[name];
  }
  return at;
}

function value(arg: Arg, row: Record<string, unknown>, format: string): unknown {
  switch (arg.kind) {
    case 'dot':
      return row;
    case 'field':
      return walk(row, arg.path, format);
    default:
      return arg.value;
  }
}

/** Go's index: a map's key, or a list's item by number; nothing when it is not there. */
function index(of: unknown, key: unknown): unknown {
  if (Array.isArray(of)) return typeof key === 'number' ? of[key] : undefined;
  if (of && typeof of === 'object') return (of as Record<string, unknown>)[String(key)];
  return undefined;
}

/** What Go's template prints for a value: strings as they are, objects as Go would not (JSON is clearer). */
function print(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function run(part: Part & { kind: 'action' }, row: Record<string, unknown>, format: string): string {
  const args = part.args.map((a) => value(a, row, format));
  switch (part.fn) {
    case undefined:
      return print(args[0]);
    case 'json':
      return JSON.stringify(args[0] ?? null);
    case 'index':
      return print(index(args[0], args[1]));
    case 'lower':
      return print(args[0]).toLowerCase();
    case 'upper':
      return print(args[0]).toUpperCase();
    case 'title':
      return print(args[0]).replace(/\b\w/g, (c) => c.toUpperCase());
    case 'join':
      return Array.isArray(args[0]) ? args[0].map(print).join(print(args[1])) : print(args[0]);
    case 'truncate':
      return print(args[0]).slice(0, Math.max(0, Number(args[1])));
    default:
      return '';
  }
}

/** A column's header in docker's words: DesiredState → DESIRED STATE, NodeID → NODE ID, ID → ID. */
export function headerOf(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toUpperCase();
}

function headerOfPart(part: Part): string {
  if (part.kind === 'text') return part.text;
  const field = part.args.find((a) => a.kind === 'field');
  return field?.kind === 'field' ? headerOf(field.path[field.path.length - 1] as string) : '';
}

/**
 * Reads a Go-style template for rows with these fields. A bad template (unknown field, unknown function, an
 * unclosed action) is a usage error naming what is known, so the command exits 2 before asking the cluster.
 */
export function compileTemplate(format: string, fields: readonly string[]): Template {
  const tabled = /^table(\s|$)/.test(format);
  const text = (tabled ? format.slice('table'.length) : format).trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const parts = parse(text, fields, format);
  const line = (row: object) =>
    parts.map((p) => (p.kind === 'text' ? p.text : run(p, row as Record<string, unknown>, format))).join('');
  return {
    render(rows) {
      if (!tabled) return rows.map((r) => `${line(r)}\n`).join('');
      const head = parts.map(headerOfPart).join('').split('\t');
      return table(
        head.map((h) => h.trim()),
        rows.map((r) => line(r).split('\t')),
      );
    },
  };
}
