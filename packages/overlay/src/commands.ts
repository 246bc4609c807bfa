import { execFile } from 'node:child_process';

/** Runs a command (no shell), with optional stdin; rejects with the command and its stderr on failure. */
export function run(command: string, args: readonly string[], input?: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args as string[],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const detail = String(stderr).trim() || err.message;
        reject(new Error(`${command} ${args.slice(0, 6).join(' ')}${args.length > 6 ? ' …' : ''}: ${detail}`));
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `ip -json …`, parsed. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const out = await run('ip', ['-json', ...args]);
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

/** Runs commands in a network namespace (by path), in this process's mount namespace. */
export function inNetns(netnsPath: string, command: string, args: readonly string[], input?: string): Promise<string> {
  return run('nsenter', [`--net=${netnsPath}`, '--', command, ...args], input);
}
