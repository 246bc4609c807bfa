import { spawn } from 'node:child_process';
import path from 'node:path';

/** The repository root and the built `flotilla` command, as the e2e tests run it. */
export const root = path.resolve(import.meta.dirname, '..');
export const bin = path.join(root, 'node_modules', '.bin', 'flotilla');

export interface Captured {
  code: number | null;
  stdout: string;
  /** stdout and stderr, interleaved as they came. */
  output: string;
}

/** Runs `flotilla ARGS` to the end with the given environment and captures what it printed. */
export function runFlotilla(args: string[], env: NodeJS.ProcessEnv): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, output }));
  });
}
