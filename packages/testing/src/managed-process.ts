import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const SETPRIV = '/usr/bin/setpriv';

export interface ProcessSpec {
  /** Name used in errors. */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** A TCP port that answers once the process is ready. */
  readyPort?: number;
  /** Where that port answers (default 127.0.0.1; a test host's underlay address for servers the hosts reach). */
  readyHost?: string;
  readyTimeoutMs?: number;
}

/**
 * A server process a test starts and must stop: tracked by PID, stopped with SIGTERM then SIGKILL, and its
 * output kept for the error message when it fails to come up. Only processes started here are ever signalled.
 */
export class ManagedProcess {
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
    if (spec.readyPort !== undefined) {
      try {
        await proc.waitForPort(spec.readyPort, spec.readyTimeoutMs ?? 15_000);
      } catch (err) {
        await proc.stop();
        throw err;
      }
    }
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

  private async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.spec.name} exited before it was ready:\n${this.output}`);
      if (await canConnect(port, this.spec.readyHost)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `${this.spec.name} did not answer on ${this.spec.readyHost ?? '127.0.0.1'}:${port} within ${timeoutMs} ms:\n${this.output}`,
    );
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

function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A TCP port on loopback that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
