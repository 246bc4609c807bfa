import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatCompose } from './compose-output.js';
import { formatDiagnostics, StackError } from './diagnostics.js';
import { loadStack } from './load.js';

/** The corpus of real-world-style Compose files: one folder per case (test/corpus/README.md). */
export const CORPUS = path.resolve(import.meta.dirname, '../test/corpus');

/** The stack files of a case, merged in this order when present. */
const STACK_FILES = ['stack.yml', 'stack.override.yml'];

export interface CaseOutput {
  /** `stack config` output (formatCompose), when the stack loads. */
  'expected.yml'?: string;
  /** The errors, as `stack validate` prints them, when it does not (work still in flight, see the README). */
  'expected-errors.txt'?: string;
  /** The warnings, one per line, as the CLI prints them. */
  'expected-warnings.txt': string;
}

export type CaseFile = keyof CaseOutput;
export const CASE_FILES: CaseFile[] = ['expected.yml', 'expected-errors.txt', 'expected-warnings.txt'];

export function caseNames(): string[] {
  return readdirSync(CORPUS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(CORPUS, d.name, 'stack.yml')))
    .map((d) => d.name)
    .sort();
}

/**
 * Loads a case as `flotilla stack config` would (no shell variables: a case's variables come from its own .env)
 * and returns what it prints, with the case folder's path taken out so that the output does not depend on where
 * the repository is checked out or where the test runs from.
 */
export function runCase(name: string): CaseOutput {
  const dir = path.join(CORPUS, name);
  const files = STACK_FILES.map((f) => path.join(dir, f)).filter((f) => existsSync(f));
  const relative = (text: string, prefix: string) =>
    text
      .replaceAll(`${dir}/`, prefix)
      .replaceAll(`${path.relative(process.cwd(), dir)}/`, prefix)
      .replaceAll(dir, '.');
  const lines = (text: string) => (text ? `${text}\n` : '');
  try {
    const loaded = loadStack({ files, env: {} });
    return {
      'expected.yml': relative(formatCompose(loaded.stack, 'yaml'), './'),
      'expected-warnings.txt': lines(relative(formatDiagnostics(loaded.warnings), '')),
    };
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    const errors = err.diagnostics.filter((d) => d.severity === 'error');
    const warnings = err.diagnostics.filter((d) => d.severity === 'warning');
    return {
      'expected-errors.txt': lines(relative(formatDiagnostics(errors), '')),
      'expected-warnings.txt': lines(relative(formatDiagnostics(warnings), '')),
    };
  }
}

/** What is recorded for a case: its expected files, as they are on disk (absent: undefined). */
export function recorded(name: string): Partial<CaseOutput> {
  const out: Partial<CaseOutput> = {};
  for (const file of CASE_FILES) {
    const at = path.join(CORPUS, name, file);
    if (existsSync(at)) out[file] = readFileSync(at, 'utf8');
  }
  return out;
}

/** Writes a case's expected files from what the loader gives today, removing the one that no longer applies. */
export function record(name: string): CaseOutput {
  const output = runCase(name);
  for (const file of CASE_FILES) {
    const at = path.join(CORPUS, name, file);
    const text = output[file];
    if (text === undefined) rmSync(at, { force: true });
    else writeFileSync(at, text);
  }
  return output;
}
