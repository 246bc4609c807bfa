import type { Diagnostic } from './diagnostics.js';
import { formatPath, type LEntry, type LNode, type PathSegment } from './yaml/located.js';

export type Lookup = (name: string) => string | undefined;

export interface InterpolationResult {
  value: string;
  /** Problems that make the value unusable: a bad template or a required variable that is not set. */
  errors: string[];
  /** Variables used without a default that are not set: they became empty strings. */
  unset: string[];
}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/**
 * Compose's variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
 * `${VAR?message}`, `${VAR:+replacement}`, `${VAR+replacement}`, and `$$` for a literal `$`. Defaults and
 * replacements may themselves hold variables.
 */
export function interpolateString(text: string, lookup: Lookup): InterpolationResult {
  const result: InterpolationResult = { value: '', errors: [], unset: [] };
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      result.value += text.slice(i);
      break;
    }
    result.value += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      result.value += '$';
      i = dollar + 2;
      continue;
    }
    if (next === '{') {
      const close = matchingBrace(text, dollar + 2);
      if (close < 0) {
        result.errors.push(`invalid interpolation "${text.slice(dollar)}": missing "}"; write $$ for a literal $`);
        return result;
      }
      expandBraced(text.slice(dollar + 2, close), lookup, result);
      i = close + 1;
      continue;
    }
    const name = NAME.exec(text.slice(dollar + 1))?.[0];
    if (!name) {
      result.errors.push(
        `invalid interpolation "${text.slice(dollar, dollar + 2)}" in "${text}": write $$ for a literal $, or \${NAME} for a variable`,
      );
      return result;
    }
    result.value += resolve(name, lookup, result);
    i = dollar + 1 + name.length;
  }
  return result;
}

function expandBraced(body: string, lookup: Lookup, result: InterpolationResult): void {
  const name = NAME.exec(body)?.[0];
  if (!name) {
    result.errors.push(`invalid interpolation "\${${body}}": a variable name starts with a letter or _`);
    return;
  }
  const rest = body.slice(name.length);
  if (rest === '') {
    result.value += resolve(name, lookup, result);
    return;
  }
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) {
    result.errors.push(
      `invalid interpolation "\${${body}}": after the name use :-, -, :?, ?, :+ or + (e.g. \${${name}:-default})`,
    );
    return;
  }
  const arg = rest.slice(op.length);
  const value = lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  const present = op.startsWith(':') ? nonEmpty : set;
  const expandArg = (): string => {
    const inner = interpolateString(arg, lookup);
    result.errors.push(...inner.errors);
    result.unset.push(...inner.unset);
    return inner.value;
  };
  switch (op) {
    case ':-':
    case '-':
      result.value += present ? (value ?? '') : expandArg();
      return;
    case ':?':
    case '?': {
      if (present) {
        result.value += value ?? '';
        return;
      }
      const message = expandArg();
      result.errors.push(
        `required variable ${name} is ${set ? 'empty' : 'not set'}${message ? `: ${message}` : ''} ` +
          `(set it in the environment or in a .env file beside the stack file)`,
      );
      return;
    }
    default:
      result.value += present ? expandArg() : '';
  }
}

function resolve(name: string, lookup: Lookup, result: InterpolationResult): string {
  const value = lookup(name);
  if (value === undefined) {
    result.unset.push(name);
    return '';
  }
  return value;
}

/** Index of the `}` that closes a `${` whose body starts at `start`, counting nested `${…}`. */
function matchingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '$' && text[i + 1] === '$') {
      i++;
    } else if (text[i] === '}' && --depth === 0) {
      return i;
    }
  }
  return -1;
}

/**
 * Interpolates every string value of a located tree in place of a copy (keys are never interpolated, as in
 * Compose). Problems come back as diagnostics at the value that holds them.
 */
export function interpolateTree(root: LNode, lookup: Lookup): { root: LNode; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const warned = new Set<string>();
  // Only what changed is copied: most of a stack has no variables, and its nodes are shared as they are.
  const path: PathSegment[] = [];
  const walk = (node: LNode): LNode => {
    if (node.kind === 'scalar') {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return node;
      const out = interpolateString(node.value, lookup);
      for (const message of out.errors) {
        diagnostics.push({
          severity: 'error',
          code: message.startsWith('required variable') ? 'undefined-variable' : 'invalid-value',
          path: formatPath(path),
          message,
          location: node.loc,
        });
      }
      for (const name of out.unset) {
        if (warned.has(name)) continue;
        warned.add(name);
        diagnostics.push({
          severity: 'warning',
          code: 'undefined-variable',
          path: formatPath(path),
          message: `variable ${name} is not set, so an empty string is used: set it, or give a default with \${${name}:-default}`,
          location: node.loc,
        });
      }
      return { ...node, value: out.value };
    }
    if (node.kind === 'seq') {
      let changed = false;
      const items = node.items.map((item, i) => {
        path.push(i);
        const next = walk(item);
        path.pop();
        changed ||= next !== item;
        return next;
      });
      return changed ? { ...node, items } : node;
    }
    let entries: Map<string, LEntry> | undefined;
    for (const [key, entry] of node.entries) {
      path.push(key);
      const next = walk(entry.value);
      path.pop();
      if (next === entry.value) continue;
      entries ??= new Map(node.entries);
      entries.set(key, { ...entry, value: next });
    }
    return entries ? { ...node, entries } : node;
  };
  return { root: walk(root), diagnostics };
}
