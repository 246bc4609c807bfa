import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { awaitReadyPort, type ProcessSpec, type ServerProcess } from './server-process.js';

const SETPRIV = '/usr/bin/setpriv';

/**
 * A server process this process starts and must stop (a test's etcd, say): tracked by PID, stopped with SIGTERM
 * then SIGKILL, and its output kept for the error message when it fails to come up. Only processes started here
 * are ever signalled.
 */
export class ManagedProcess implements ServerProcess {
  private static readonly running = new Set<ManagedProcess>();
  private output = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly spec: ProcessSpec,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => this.keep(d));
    child.stderr?.on('data', (d: Buffer) => this.keep(d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    ManagedProcess.running.add(this);
    void this.exited.then(() => ManagedProcess.running.delete(this));
  }

  static async start(spec: ProcessSpec): Promise<ManagedProcess> {
    // setpriv (util-linux) makes the server die with the test process, so a crashed or killed test run
    // leaves no server behind.
    const [command, args] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', spec.command, ...spec.args]]
      : [spec.command, spec.args];
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new ManagedProcess(spec, child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`${spec.name}: cannot start ${spec.command}: ${err.message}`)));
    });
    await awaitReadyPort(proc, spec);
    return proc;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get log(): string {
    return this.output;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private keep(data: Buffer): void {
    // Only the tail matters for a failure message; a chatty server must not grow memory without bound.
    this.output = (this.output + data.toString()).slice(-16_384);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Stops every process started here that is still running (for afterAll hooks and failure paths). */
  static async stopAll(): Promise<void> {
    await Promise.all([...ManagedProcess.running].map((p) => p.stop()));
  }
}
