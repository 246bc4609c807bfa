import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '@flotilla/test-servers';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from '../capture-io.test-helpers.js';

const dir = tempDir('cli-completion');
const root = path.resolve(import.meta.dirname, '../../../..');
afterAll(() => dir.remove());

/** A `flotilla` on PATH that runs this source tree's CLI, as the completion scripts call it back. */
function flotillaOnPath(): string {
  const bin = path.join(dir.path, 'bin');
  const entry = path.join(dir.path, 'flotilla.mjs');
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(path.join(root, 'packages/cli/src/index.ts'))};\n` +
      'process.exit(await main(process.argv));\n',
  );
  execFileSync('mkdir', ['-p', bin]);
  const wrapper = path.join(bin, 'flotilla');
  writeFileSync(wrapper, `#!/bin/sh\nexec node --import tsx ${JSON.stringify(entry)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return `${bin}:${process.env.PATH}`;
}

async function script(shell: string): Promise<string> {
  const run = await runMain(['completion', shell]);
  expect(run.code, run.err).toBe(0);
  return run.out;
}

/** What the generated bash script offers for a command line whose last word is being typed. */
function complete(file: string, words: string[], env: NodeJS.ProcessEnv = {}): { offered: string[]; stderr: string } {
  const program = `source ${JSON.stringify(file)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_flotilla
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  return { offered: result.stdout.split('\n').filter((l) => l !== ''), stderr: result.stderr };
}

describe('flotilla completion', () => {
  it('completes subcommands, flags and flag values in a real bash', async () => {
    const file = path.join(dir.path, 'flotilla.bash');
    writeFileSync(file, await script('bash'));
    expect(complete(file, ['flotilla', 'se']).offered).toEqual(['service', 'secret']);
    expect(complete(file, ['flotilla', 'service', 'l']).offered).toEqual(['ls', 'logs']);
    expect(complete(file, ['flotilla', 'stack', 'deploy', '--pru']).offered).toEqual(['--prune']);
    // A flag's value is not taken for a subcommand, and the flags after it are still the command's.
    expect(complete(file, ['flotilla', 'stack', 'deploy', '-c', 'stack.yml', '--dry']).offered).toEqual(['--dry-run']);
    expect(complete(file, ['flotilla', 'stack', 'deploy', '--format', '']).offered).toEqual(['text', 'json']);
    // The completion command itself is completed, the hidden one is not.
    expect(complete(file, ['flotilla', 'comp']).offered).toEqual(['completion']);
    expect(complete(file, ['flotilla', '__']).offered).toEqual([]);
    expect(complete(file, ['flotilla', 'node', 'ls', '--']).offered).toEqual(['--format', '--help']);
  });

  it('offers no live names, and prints nothing, when no cluster is reachable', async () => {
    const file = path.join(dir.path, 'flotilla-none.bash');
    writeFileSync(file, await script('bash'));
    const env = {
      PATH: flotillaOnPath(),
      FLOTILLA_CONFIG_DIR: path.join(dir.path, 'none'),
    };
    const { offered, stderr } = complete(file, ['flotilla', 'service', 'ps', ''], env);
    expect(offered).toEqual([]);
    expect(stderr).toBe('');
    const direct = await runMain(['__complete', 'services'], {
      env: { FLOTILLA_CONFIG_DIR: path.join(dir.path, 'none') },
    });
    expect(direct).toEqual({ code: 0, out: '', err: '' });
  });

  it('makes zsh and fish scripts of the same commands and flags, and refuses another shell', async () => {
    const zsh = await script('zsh');
    expect(zsh).toMatch(/^#compdef flotilla\n/);
    expect(zsh).toContain('bashcompinit');
    expect(zsh).toContain("'stack deploy') echo '-c --compose-file");
    const fish = await script('fish');
    expect(fish).toContain("complete -c flotilla -n '__flotilla_at \\'service\\'' -a 'ps' -d");
    expect(fish).toContain("complete -c flotilla -n '__flotilla_at \\'stack deploy\\'' -l prune");
    expect(fish).toContain("-l format -x -a 'text json'");
    expect(fish).toContain("-a '(flotilla __complete services 2>/dev/null)'");
    expect(fish).not.toContain("__complete' -d");
    for (const shell of ['zsh', 'fish']) {
      const available = spawnSync(shell, ['--version']).status === 0;
      if (available) expect(spawnSync(shell, ['-n'], { input: shell === 'zsh' ? zsh : fish }).status).toBe(0);
    }
    expect((await runMain(['completion', 'powershell'])).code).toBe(2);
  });
});
