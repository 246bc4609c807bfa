import { execFile } from 'node:child_process';

export interface ExecOptions {
  /** Kill the command (SIGKILL) and reject after this long; default 30 s. */
  timeoutMs?: number;
  /** Written to the command's stdin (stdin is closed at once otherwise). */
  input?: string;
}

/** Runs a command without a shell; resolves with stdout, rejects naming the command, its exit and its stderr. */
export function runCommand(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string };
        const why =
          e.code === 'ENOENT'
            ? `${cmd} not found`
            : e.killed && e.signal === 'SIGKILL'
              ? `timed out after ${timeoutMs} ms`
              : typeof e.code === 'number'
                ? `exit ${e.code}`
                : (e.signal ?? e.message);
        const error = new Error(`${line}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`) as Error & {
          stdout: string;
          stderr: string;
        };
        error.stdout = stdout;
        error.stderr = stderr;
        reject(error);
      },
    );
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    child.stdin?.end(options.input ?? '');
  });
}

/** `ip …` (iproute2), bounded to 15 s. */
export function ip(args: readonly string[]): Promise<string> {
  return runCommand('ip', args, { timeoutMs: 15_000 });
}

/** `ip -json …`, parsed. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const out = await ip(['-json', ...args]);
  return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
