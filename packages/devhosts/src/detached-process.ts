import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { stopPid } from './pids.js';
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
