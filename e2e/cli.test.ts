import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The built `flotilla` command as a user runs it: a separate process, real files, real exit codes.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');
const exec = promisify(execFile);

async function flotilla(...args: string[]) {
  try {
    const { stdout, stderr } = await exec(bin, args, { cwd: root, env: { PATH: process.env.PATH ?? '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('flotilla command (built)', () => {
  it('validates and prints the example stack', async () => {
    const validate = await flotilla('stack', 'validate', '-c', 'examples/web/stack.yml');
    expect(validate).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (') });
    const config = await flotilla('stack', 'config', '-c', 'examples/web/stack.yml', '--format', 'json');
    expect(config.code).toBe(0);
    expect(JSON.parse(config.stdout).services.web.deploy.replicas).toBe(3);
  });

  it('exits 1 with located errors for an invalid stack, 2 for bad usage', async () => {
    const invalid = await flotilla('stack', 'validate', '-c', 'packages/stack/test/errors/out-of-range/stack.yml');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/out-of-range\/stack\.yml:5:9: services\.web\.ports\[0\]: invalid port "70000:80"/);
    expect((await flotilla('stack', '--no-such-flag')).code).toBe(2);
  });

  it('ends quietly when its reader stops reading, as `flotilla … | head -1` has it', async () => {
    const child = spawn(bin, ['completion', 'bash'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the command writes a byte: every write it makes finds no reader (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});
