import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runPrefix } from './run-prefix.js';

/** A fresh directory under the system temp dir, named with the run prefix; `remove()` deletes it. */
export function tempDir(label: string): { path: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `${runPrefix()}-${label}-`));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
