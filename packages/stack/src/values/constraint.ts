import { closest, distance } from 'fastest-levenshtein';
import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

/** A swarm placement constraint such as `node.labels.zone == b`. */
export interface Constraint {
  field: string;
  operator: '==' | '!=';
  value: string;
}

const FIXED_FIELDS: readonly string[] = [
  'node.id',
  'node.hostname',
  'node.role',
  'node.platform.os',
  'node.platform.arch',
];
const LABEL_PREFIXES: readonly string[] = ['node.labels.', 'engine.labels.'];
const ROLES: readonly string[] = ['manager', 'worker'];
const MAX_SUGGESTION_DISTANCE = 3;

// Swarm's own character rules (with Go's ASCII-only \s) for label keys and values;
// a value may not contain operators such as = ! < > ~.
const LABEL_KEY = /^[a-z0-9_.-]+$/i;
const VALUE = /^[a-z0-9:\-_ \t\n\f\r.*()?+[\]\\^$|/]+$/i;

const OPERATOR_HINT = 'use == or != (e.g. node.role==manager or node.labels.zone != b)';
const FIELD_HINT = `known fields are ${FIXED_FIELDS.join(', ')}, node.labels.<key> and engine.labels.<key>`;

/** Parses a placement constraint; field names are case-insensitive like swarm's, label keys and values are kept. */
export function parseConstraint(expr: string): Constraint {
  const value = requireScalar(expr, 'constraint');
  const text = String(value);
  const q = quote(value);
  const bad = (why: string) => new ValueError(`invalid constraint ${q}: ${why}`);

  // The first run of operator characters is the operator; anything but == or != is a mistake worth naming.
  const op = /[=!<>~]+/.exec(text);
  if (op === null) throw bad(`no operator; ${OPERATOR_HINT}`);
  if (op[0] !== '==' && op[0] !== '!=') throw bad(`unknown operator ${quote(op[0])}; ${OPERATOR_HINT}`);
  const operator = op[0];
  const rawField = text.slice(0, op.index).trim();
  const constraintValue = text.slice(op.index + operator.length).trim();

  if (rawField === '') throw bad(`the field is missing before ${operator}; ${FIELD_HINT}`);
  const field = normalizeField(rawField, bad);
  if (constraintValue === '') throw bad(`the value is missing after ${operator}`);
  if (/[=!<>~]/.test(constraintValue)) throw bad(`only one operator is allowed; ${OPERATOR_HINT}`);
  if (!VALUE.test(constraintValue)) {
    throw bad(
      `value ${quote(constraintValue)} may only use letters, digits, spaces and : - _ . * ( ) ? + [ ] \\ ^ $ | /`,
    );
  }
  if (field === 'node.role') {
    // Swarm compares values case-insensitively, so Manager is fine; store the canonical spelling.
    const role = constraintValue.toLowerCase();
    if (!ROLES.includes(role)) throw bad(`node.role is manager or worker, not ${quote(constraintValue)}`);
    return { field, operator, value: role };
  }
  return { field, operator, value: constraintValue };
}

/** Parses a `spread` placement preference descriptor such as node.labels.zone. */
export function parseSpread(descriptor: string): string {
  const value = requireScalar(descriptor, 'spread preference');
  const text = String(value).trim();
  if (text === '') throw new ValueError(`invalid spread preference "": write a label such as node.labels.zone`);
  return normalizeField(text, (why) => new ValueError(`invalid spread preference ${quote(value)}: ${why}`));
}

function normalizeField(raw: string, bad: (why: string) => ValueError): string {
  const lower = raw.toLowerCase();
  if (FIXED_FIELDS.includes(lower)) return lower;
  for (const prefix of LABEL_PREFIXES) {
    if (!lower.startsWith(prefix)) continue;
    // Label keys are matched case-sensitively by swarm, so only the prefix is lower-cased.
    const key = raw.slice(prefix.length);
    if (key === '') throw bad(`the label key is missing; write ${prefix}<key>, e.g. ${prefix}zone`);
    if (!LABEL_KEY.test(key)) {
      throw bad(`label key ${quote(key)} may only use letters, digits, '.', '_' and '-'`);
    }
    return `${prefix}${key}`;
  }
  if (LABEL_PREFIXES.includes(`${lower}.`))
    throw bad(`the label key is missing; write ${lower}.<key>, e.g. ${lower}.zone`);
  const suggestion = suggest(raw);
  const hint = suggestion === undefined ? FIELD_HINT : `did you mean ${suggestion}? (${FIELD_HINT})`;
  throw bad(`unknown field ${quote(raw)}; ${hint}`);
}

/** The nearest known field for a typo, keeping a mistyped label prefix's key: node.lables.zone → node.labels.zone. */
function suggest(raw: string): string | undefined {
  const lower = raw.toLowerCase();
  // A cut-off name (node.host) or a skipped level (node.os) points at one field better than edit distance does.
  const tail = /^node\.([a-z]+)$/.exec(lower)?.[1];
  const completions = FIXED_FIELDS.filter(
    (field) => (lower.length > 5 && field.startsWith(lower)) || (tail !== undefined && field.endsWith(`.${tail}`)),
  );
  if (completions.length === 1) return completions[0];
  const candidates: string[] = [...FIXED_FIELDS];
  // Try every split point as "prefix.key" so the key survives a typo in the prefix.
  for (let dot = lower.indexOf('.'); dot !== -1; dot = lower.indexOf('.', dot + 1)) {
    const head = lower.slice(0, dot + 1);
    const key = raw.slice(dot + 1);
    if (key === '') continue;
    const prefix = closest(head, LABEL_PREFIXES);
    if (distance(head, prefix) <= MAX_SUGGESTION_DISTANCE) candidates.push(`${prefix}${key}`);
  }
  const best = closest(lower, candidates);
  return distance(lower, best.toLowerCase()) <= MAX_SUGGESTION_DISTANCE ? best : undefined;
}
