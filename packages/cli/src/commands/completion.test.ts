import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '@flotilla/test-servers';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from '../capture-io.test-helpers.js';
import { bashCompletions, flotillaBinDir } from '../output/completion.test-helpers.js';

const dir = tempDir('cli-completion');
afterAll(() => dir.remove());

async function script(shell: string): Promise<string> {
  const run = await runMain(['completion', shell]);
  expect(run.code, run.err).toBe(0);
  return run.out;
}

/** The completions offered, with a bash that must print nothing to stderr. */
async function complete(file: string, words: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const { offered, stderr } = await bashCompletions(file, words, env);
  expect(stderr).toBe('');
  return offered;
}

describe('flotilla completion', () => {
  it('completes subcommands, flags and flag values in a real bash', async () => {
    const file = path.join(dir.path, 'flotilla.bash');
    writeFileSync(file, await script('bash'));
    expect(await complete(file, ['flotilla', 'se'])).toEqual(['service', 'secret']);
    expect(await complete(file, ['flotilla', 'service', 'l'])).toEqual(['ls', 'logs']);
    expect(await complete(file, ['flotilla', 'stack', 'deploy', '--pru'])).toEqual(['--prune']);
    // A flag's value is not taken for a subcommand, and the flags after it are still the command's.
    expect(await complete(file, ['flotilla', 'stack', 'deploy', '-c', 'stack.yml', '--dry'])).toEqual(['--dry-run']);
    expect(await complete(file, ['flotilla', 'stack', 'deploy', '--format', ''])).toEqual(['text', 'json']);
    // The completion command itself is completed, the hidden one is not.
    expect(await complete(file, ['flotilla', 'comp'])).toEqual(['completion']);
    expect(await complete(file, ['flotilla', '__'])).toEqual([]);
    expect(await complete(file, ['flotilla', 'node', 'ls', '--'])).toEqual(['--quiet', '--format', '--help']);
  });

  it('offers no live names, and prints nothing, when no cluster is reachable', async () => {
    const file = path.join(dir.path, 'flotilla-none.bash');
    writeFileSync(file, await script('bash'));
    const env = {
      PATH: `${flotillaBinDir(dir.path)}:${process.env.PATH}`,
      FLOTILLA_CONFIG_DIR: path.join(dir.path, 'none'),
    };
    expect(await complete(file, ['flotilla', 'service', 'ps', ''], env)).toEqual([]);
    expect(await complete(file, ['flotilla', 'network', 'rm', ''], env)).toEqual([]);
    expect(await complete(file, ['flotilla', 'service', 'update', '--network-add', ''], env)).toEqual([]);
    const direct = await runMain(['__complete', 'services'], {
      env: { FLOTILLA_CONFIG_DIR: path.join(dir.path, 'none') },
    });
    expect(direct).toEqual({ code: 0, out: '', err: '' });
    for (const kind of ['networks', 'secrets', 'configs']) {
      const none = await runMain(['__complete', kind], { env: { FLOTILLA_CONFIG_DIR: path.join(dir.path, 'none') } });
      expect(none).toEqual({ code: 0, out: '', err: '' });
    }
    // Each completion that asks runs the CLI afresh.
  }, 30_000);

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
    expect(fish).toContain("-l network-add -x -a '(flotilla __complete networks 2>/dev/null)'");
    expect(fish).toContain("-l secret -x -a '(flotilla __complete secrets 2>/dev/null)'");
    for (const shell of ['zsh', 'fish']) {
      const available = spawnSync(shell, ['--version']).status === 0;
      if (available) expect(spawnSync(shell, ['-n'], { input: shell === 'zsh' ? zsh : fish }).status).toBe(0);
    }
    expect((await runMain(['completion', 'powershell'])).code).toBe(2);
  });

  it('takes existing networks, secrets and configs by name where a command or a service flag names one', async () => {
    const bash = await script('bash');
    const liveArm = (path: string, kind: string) => `    '${path}') echo '${kind}' ;;`;
    for (const kind of ['network', 'secret', 'config']) {
      expect(bash).toContain(liveArm(`${kind} inspect`, `${kind}s`));
      expect(bash).toContain(liveArm(`${kind} rm`, `${kind}s`));
      // A create names a new one: nothing live to offer.
      expect(bash).not.toContain(`'${kind} create') echo '${kind}s'`);
      for (const flag of [`--${kind}-add`, `--${kind}-rm`])
        expect(bash).toContain(liveArm(`service update|${flag}`, `${kind}s`));
      expect(bash).toContain(liveArm(`service create|--${kind}`, `${kind}s`));
    }
    // Not every flag with a value is a live name.
    expect(bash).not.toContain("'service update|--env-add') echo");
  });
});
