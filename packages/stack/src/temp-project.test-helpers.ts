import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { StackError } from './diagnostics.js';
import { type LoadedStack, type LoadOptions, loadStack } from './load.js';

const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A directory of real files for a test (removed after it); names may hold subdirectories. For tests. */
export function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'flotilla-stack-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}

/** Loads files of a test project (names relative to it); no shell variables unless given. For tests. */
export function loadIn(dir: string, files: string[], options: Partial<LoadOptions> = {}): LoadedStack {
  return loadStack({ env: {}, ...options, files: files.map((f) => path.join(dir, f)) });
}

/** What loading reports, as `stack validate` prints it, with the project's directory left out of paths. For tests. */
export function problemsIn(dir: string, files: string[], options: Partial<LoadOptions> = {}): string {
  try {
    loadIn(dir, files, options);
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    return err.format().replaceAll(`${dir}/`, '');
  }
  return '';
}

/** The warnings of a load that succeeds, formatted, with the project's directory left out. For tests. */
export function warningsIn(loaded: LoadedStack, dir: string): string[] {
  return loaded.warnings.map((w) =>
    `${w.location ? `${w.location.file}:${w.location.line}:${w.location.col}: ` : ''}${w.message}`.replaceAll(
      `${dir}/`,
      '',
    ),
  );
}
