import type { Diagnostic } from './diagnostics.js';
import { issuesToDiagnostics } from './schema/issues.js';
import { type StackModel, stackSchema } from './schema/stack.js';
import { type LNode, type PathSegment, toPlain } from './yaml/located.js';

export interface Validation {
  /** Everything that is valid; what is not is left out, a named object kept as a bare name (see `pruned`). */
  model: StackModel;
  /**
   * Key paths (`services.web.ports`, `networks.front`) left out of the model because they are invalid: what
   * later checks would say of them (a missing image once `image` was left out) is not said again.
   */
  pruned: Set<string>;
}

/** Rounds of leaving out and validating again; each round leaves out at least one more key, so few are needed. */
const MAX_ROUNDS = 8;

const NAMED = new Set(['services', 'networks', 'volumes', 'configs', 'secrets']);

/**
 * Validates a stack and reports every problem, without stopping at the first batch: each invalid part (one key of
 * a service, one network's definition) is left out and the rest validated again, until what is left is valid.
 * The reference and file checks then run on that model, so one pass reports every problem of every kind. An
 * object left out is kept as a name (an empty service, a network with no settings) so that references to it
 * are not reported as undefined.
 */
export function validateStack(root: LNode, diagnostics: Diagnostic[]): Validation | undefined {
  const input = toPlain(root);
  if (!isRecord(input)) return undefined;
  const pruned = new Set<string>();
  const names: [string, string][] = [];
  const said = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const result = stackSchema.safeParse(input, { reportInput: true });
    if (result.success) {
      const model = withNames(result.data, names);
      if (Object.keys(model.services ?? {}).length === 0 && !pruned.has('services')) {
        diagnostics.push({
          severity: 'error',
          code: 'missing-key',
          path: 'services',
          message: 'a stack needs at least one service under services:',
          location: root.loc,
        });
      }
      return { model, pruned };
    }
    for (const d of issuesToDiagnostics(result.error.issues, root)) {
      const key = `${d.path}|${d.message}|${d.location?.file}:${d.location?.line}:${d.location?.col}`;
      if (said.has(key)) continue;
      said.add(key);
      diagnostics.push(d);
    }
    let progress = false;
    for (const issue of result.error.issues) {
      progress = leaveOut(input, issue.path as PathSegment[], pruned, names) || progress;
    }
    if (!progress) return undefined;
  }
  return undefined;
}

/**
 * Leaves out what an issue is about: a service's key (`services.web.ports`), a whole named object when the issue
 * is about the object itself or its name, or a top-level key. Returns whether anything was left out.
 */
function leaveOut(
  input: Record<string, unknown>,
  path: PathSegment[],
  pruned: Set<string>,
  names: [string, string][],
): boolean {
  const [top, name, key] = path;
  if (typeof top !== 'string' || !(top in input)) return false;
  const group = input[top];
  if (name === undefined || !NAMED.has(top) || !isRecord(group)) {
    delete input[top];
    pruned.add(top);
    return true;
  }
  const object = group[String(name)];
  if (!(String(name) in group)) return false;
  if (top === 'services' && key !== undefined && isRecord(object) && typeof key === 'string' && key in object) {
    delete object[key];
    pruned.add(`services.${name}.${key}`);
    return true;
  }
  delete group[String(name)];
  names.push([top, String(name)]);
  pruned.add(`${top}.${name}`);
  return true;
}

/** The objects left out, back as names: an empty service, an object with no settings. */
function withNames(model: StackModel, names: [string, string][]): StackModel {
  const out = { ...model } as Record<string, Record<string, unknown> | undefined>;
  for (const [kind, name] of names) {
    const group = { ...(out[kind] ?? {}) };
    if (!(name in group)) group[name] = kind === 'services' ? {} : null;
    out[kind] = group;
  }
  return out as StackModel;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
