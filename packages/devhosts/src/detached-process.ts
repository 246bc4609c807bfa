import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { awaitReadyPort, type Launch, type ProcessSpec, type ServerProcess } from './server-process.js';

/** How much of a log file's end `log` reads, for error messages. */
const LOG_TAIL = 16_384;

/**
 * A server that outlives the process that started it (a `flotilla dev up` daemon): its output goes to
 * `<dir>/<name>.log`, and a later process ends it by its PID (`stopPid`).
 */
export class DetachedProcess implements ServerProcess {
  constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return readTail(this.logFile, LOG_TAIL);
  }

  stop(graceMs?: number): Promise<void> {
    return stopPid(this.pid, graceMs);
  }
}

/**
 * Starts servers as `DetachedProcess`es with their logs in `dir`; `env` is added to this process's environment
 * (and the spec's to that).
 */
export function detachedLauncher(dir: string, env: Record<string, string> = {}): Launch<DetachedProcess> {
  return async (spec: ProcessSpec) => {
    const logFile = path.join(dir, `${spec.name}.log`);
    const log = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        detached: true,
        cwd: spec.cwd,
        stdio: ['ignore', log, log],
        env: { ...process.env, ...env, ...spec.env },
      });
    } finally {
      closeSync(log);
    }
    // A command that cannot start has no PID: that is reported below, the event adds nothing.
    child.once('error', () => undefined);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${spec.name} (${spec.command})`);
    const proc = new DetachedProcess(child, logFile);
    await awaitReadyPort(proc, spec);
    return proc;
  };
}

/** Whether a process with this PID exists (ours or not: for PIDs kept in a state file). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: no such process.
    return false;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; nothing if the PID is 0 or gone. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!pid || !signal(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  signal(pid, 'SIGKILL');
}

/** Sends a signal; false if the process is gone (so there is nothing to signal). */
function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    // ESRCH: ended meanwhile, which is what stopping wants.
    return false;
  }
}

function readTail(file: string, bytes: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = statSync(file).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString();
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
