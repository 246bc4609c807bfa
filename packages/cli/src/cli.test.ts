import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from './capture-io.test-helpers.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../stack/test/fixtures');
const ERRORS = path.resolve(import.meta.dirname, '../../stack/test/errors');

const run = (...args: string[]) => runMain(args);

describe('flotilla CLI', () => {
  it('--version and --help exit 0', async () => {
    expect(await run('--version')).toMatchObject({ code: 0, out: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    const help = await run('stack', 'config', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('--compose-file');
  });

  it('bad usage exits 2 with a message', async () => {
    const unknown = await run('stack', 'frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown command 'frobnicate'");
    const noFile = await run('stack', 'validate');
    expect(noFile).toMatchObject({ code: 2, err: expect.stringContaining('pass one with -c FILE') });
    expect((await run('stack', 'config', '-c', 'x.yml', '--format', 'toml')).code).toBe(2);
  });

  it('stack config prints the normalized stack as YAML or JSON', async () => {
    const file = path.join(FIXTURES, 'voting-app', 'stack.yml');
    const yaml = await run('stack', 'config', '-c', file);
    expect(yaml.code).toBe(0);
    expect(yaml.out).toContain('stop_grace_period: 1m30s');
    const json = await run(
      'stack',
      'config',
      '-c',
      file,
      '-c',
      path.join(FIXTURES, 'voting-app', 'stack.override.yml'),
      '--format',
      'json',
    );
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as { services: Record<string, { deploy: { replicas: number } }> };
    expect(Object.keys(parsed.services)).toContain('vote');
  });

  it('stack validate prints every error with file:line:col and exits 1', async () => {
    const result = await run('stack', 'validate', '-c', path.join(ERRORS, 'unknown-key', 'stack.yml'));
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /unknown-key\/stack\.yml:3:5: services\.web\.imgae: unknown key "imgae" \(did you mean "image"\?\)/,
    );
    expect(result.err).toContain('the stack is invalid (4 errors)');
    expect(result.out).toBe('');
  });

  it('a missing file is a failure, not a crash', async () => {
    const result = await run('stack', 'validate', '-c', '/nonexistent/stack.yml');
    expect(result.code).toBe(1);
    expect(result.err).toContain('cannot read the stack file: no such file');
  });
});
