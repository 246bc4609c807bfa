import { execFile } from 'node:child_process';
import type { ExecResult } from './executor.js';

/**
 * Runs a short command on the node (a health check, a probe through nsenter) with a timeout: its exit code
 * (`fallbackCode` when it has none, e.g. it could not start), stdout and stderr together cut to 4 KiB, whether it
 * was killed for taking too long, and the error's message when it failed.
 */
export function runCommand(
  file: string,
  args: string[],
  timeoutMs: number,
  fallbackCode: number,
): Promise<ExecResult & { error?: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.slice(0, 4096);
      if (!err) return resolve({ exitCode: 0, output });
      const e = err as { code?: unknown; killed?: boolean };
      resolve({
        exitCode: typeof e.code === 'number' ? e.code : fallbackCode,
        output,
        error: err.message,
        ...(e.killed ? { timedOut: true } : {}),
      });
    });
  });
}
