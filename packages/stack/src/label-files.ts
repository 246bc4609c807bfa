import path from 'node:path';
import type { Diagnostic } from './diagnostics.js';
import { parseEnvFile } from './env-file.js';
import type { FileSource } from './file-source.js';
import type { StackModel } from './schema/stack.js';
import { diagnosticAt, type LNode, locate, type PathSegment } from './yaml/located.js';

/**
 * Reads the files a service's `label_file` names: KEY=VALUE lines, as an env_file is written, relative to the
 * project directory, as Compose reads them. A missing or unreadable file is an error at the entry that names it.
 * Returns the labels of each file by absolute path; normalize.ts merges them under `labels:`, which wins.
 */
export function readLabelFiles(
  model: StackModel,
  projectDir: string,
  root: LNode,
  source: FileSource,
  diagnostics: Diagnostic[],
): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const [name, service] of Object.entries(model.services ?? {})) {
    const files = service.label_file ?? [];
    // One file may be written as a plain string: the problem is then reported at the key.
    const isList = locate(root, ['services', name, 'label_file']).node?.kind === 'seq';
    files.forEach((file, i) => {
      const at: PathSegment[] = isList ? ['services', name, 'label_file', i] : ['services', name, 'label_file'];
      const absolute = path.resolve(projectDir, file);
      if (out.has(absolute)) return;
      const problem = (why: string) =>
        diagnostics.push(diagnosticAt(root, at, 'file-error', `label_file "${file}": ${why}`, { atKey: !isList }));
      if (!source.exists(absolute)) {
        problem("no such file (paths are relative to the first stack file's directory)");
        return;
      }
      try {
        out.set(absolute, parseEnvFile(source.read(absolute)));
      } catch (err) {
        problem((err as Error).message);
      }
    });
  }
  return out;
}
