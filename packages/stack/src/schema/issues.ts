import type * as z from 'zod';
import type { Diagnostic, DiagnosticCode } from '../diagnostics.js';
import { diagnosticAt, type LNode, locate, type PathSegment } from '../yaml/located.js';
import type { IssueParams } from './primitives.js';

type Issue = z.core.$ZodIssue;

/** Turns validation issues into diagnostics that point at the offending key or value of the right file. */
export function issuesToDiagnostics(issues: readonly Issue[], root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) collect(issue, [], root, out);
  // One problem can surface through several union branches; say it once.
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = `${d.path}|${d.message}|${d.location?.line}:${d.location?.col}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function collect(issue: Issue, prefix: PathSegment[], root: LNode, out: Diagnostic[]): void {
  const path = [...prefix, ...(issue.path as PathSegment[])];
  if (issue.code === 'invalid_union') {
    const branch = bestBranch(issue.errors);
    if (branch) {
      for (const inner of branch) collect(inner, path, root, out);
      return;
    }
    const expected = [...new Set(issue.errors.flat().map((e) => (e.code === 'invalid_type' ? e.expected : '')))];
    const input = inputAt(root, path);
    out.push(diagnostic('invalid-type', path, `expected ${describeExpected(expected)}, got ${input}`, root));
    return;
  }
  if (issue.code === 'invalid_key') {
    for (const inner of issue.issues) out.push(diagnostic('invalid-value', path, inner.message, root, true));
    return;
  }
  if (issue.code === 'invalid_element') {
    for (const inner of issue.issues) collect(inner, path, root, out);
    return;
  }
  if (issue.code === 'custom') {
    const kind = (issue.params as IssueParams | undefined)?.flotilla;
    const code: DiagnosticCode = kind ?? 'invalid-value';
    out.push(diagnostic(code, path, issue.message, root, kind === 'unknown-key'));
    return;
  }
  if (issue.code === 'invalid_type') {
    const found = locate(root, path);
    if (!found.exact) {
      const key = String(path[path.length - 1] ?? '');
      out.push(diagnostic('missing-key', path.slice(0, -1), `missing required key "${key}"`, root, true));
      return;
    }
    const got = inputAt(root, path);
    out.push(diagnostic('invalid-type', path, `expected ${describeExpected([issue.expected])}, got ${got}`, root));
    return;
  }
  out.push(diagnostic('invalid-value', path, issue.message, root));
}

/** The union branch the input was meant for: the one that did not fail on the input's type itself. */
function bestBranch(branches: Issue[][]): Issue[] | undefined {
  const meaningful = branches.filter(
    (b) => b.length > 0 && !b.every((i) => i.code === 'invalid_type' && i.path.length === 0),
  );
  if (meaningful.length === 0) return undefined;
  // Prefer the branch that got furthest into the value.
  return meaningful.sort((a, b) => depth(b) - depth(a))[0];
}

function depth(issues: Issue[]): number {
  return Math.max(...issues.map((i) => i.path.length + (i.code === 'custom' ? 0.5 : 0)));
}

function diagnostic(
  code: DiagnosticCode,
  path: PathSegment[],
  message: string,
  root: LNode,
  atKey = false,
): Diagnostic {
  return diagnosticAt(root, path, code, message, { atKey });
}

const NOUNS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  null: 'nothing',
};

function describeExpected(expected: string[]): string {
  const words = [...new Set(expected.filter(Boolean).map((e) => NOUNS[e] ?? e))];
  if (words.length === 0) return 'a different value';
  return words.length === 1 ? (words[0] as string) : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

function inputAt(root: LNode, path: PathSegment[]): string {
  const node = locate(root, path).node;
  if (!node) return 'nothing';
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  if (node.value === null) return 'nothing (null)';
  if (typeof node.value === 'string') return `the string ${JSON.stringify(node.value.slice(0, 60))}`;
  return `${typeof node.value} ${String(node.value)}`;
}
