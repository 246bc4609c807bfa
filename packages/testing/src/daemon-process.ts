import { type ChildProcess, spawn } from 'node:child_process';

/** A long-running command a test or bench starts (a manager, an agent), with what it printed so far. */
export interface DaemonProcess {
  readonly child: ChildProcess;
  /** stdout and stderr, interleaved as they came. */
  output(): string;
  readonly exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in the output; fails with the output if it does not come in time. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `command args` with its output captured, for tests and benches that run the built `flotilla`. */
export function startDaemon(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): DaemonProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(output);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`${command} ${args[0] ?? ''}: no ${pattern} in its output:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
