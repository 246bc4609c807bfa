import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The repository root, where `node --import tsx` finds tsx. */
export const repoRoot = path.resolve(import.meta.dirname, '../../../..');

/**
 * A directory holding a `flotilla` that runs this source tree's CLI, to put first on PATH: the completion scripts
 * call `flotilla __complete` back.
 */
export function flotillaBinDir(dir: string): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const entry = path.join(dir, 'flotilla.mjs');
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(path.join(repoRoot, 'packages/cli/src/index.ts'))};\n` +
      'process.exit(await main(process.argv));\n',
  );
  writeFileSync(path.join(bin, 'flotilla'), `#!/bin/sh\nexec node --import tsx ${JSON.stringify(entry)} "$@"\n`, {
    mode: 0o755,
  });
  return bin;
}

/**
 * What a generated bash script offers for a command line whose last word is being typed, run in a real bash
 * (asynchronously: a manager answering the script's call back may live in the test's own process).
 */
export function bashCompletions(
  script: string,
  words: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ offered: string[]; stderr: string }> {
  const program = [
    `source ${JSON.stringify(script)}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_flotilla',
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['--norc', '--noprofile', '-c', program],
      { cwd: repoRoot, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}: ${stderr}`));
        else resolve({ offered: stdout.split('\n').filter(Boolean), stderr });
      },
    );
  });
}
