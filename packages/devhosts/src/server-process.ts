import { connect, createServer } from 'node:net';

/** A server to start: what to run, and how to tell it is ready. */
export interface ProcessSpec {
  /** Name used in errors (and, for detached processes, of the log file). */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** A TCP port that answers once the process is ready. */
  readyPort?: number;
  /** Where that port answers (default 127.0.0.1; a namespace hosts' gateway for servers the hosts reach). */
  readyHost?: string;
  readyTimeoutMs?: number;
}

/** A started server: a child of this process, or a detached daemon that outlives it. */
export interface ServerProcess {
  readonly pid: number;
  readonly alive: boolean;
  /** The tail of its output, for error messages. */
  readonly log: string;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * How servers are started: `ManagedProcess.start` (they die with this process: tests) or `detachedLauncher`
 * (they outlive it: `flotilla dev up`). Resolves once the spec's ready port answers; rejects, with the process
 * stopped and its output in the message, if it exits or does not answer in time.
 */
export type Launch<P extends ServerProcess = ServerProcess> = (spec: ProcessSpec) => Promise<P>;

/** Whether something accepts TCP connections on host:port now. */
export function portAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether something accepts connections on a Unix socket now. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
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

/**
 * Waits until `probe` says a just-started process is ready. If it exits first, or is not ready within
 * `timeoutMs`, it is stopped and the promise rejects with its output: "NAME exited before it was ready" or
 * "NAME did not READY within N ms".
 */
export async function awaitReady(
  proc: ServerProcess,
  name: string,
  ready: { what: string; probe: () => Promise<boolean>; timeoutMs: number },
): Promise<void> {
  const deadline = Date.now() + ready.timeoutMs;
  let failure: string;
  for (;;) {
    if (!proc.alive) {
      failure = `${name} exited before it was ready`;
      break;
    }
    if (await ready.probe()) return;
    if (Date.now() > deadline) {
      failure = `${name} did not ${ready.what} within ${ready.timeoutMs} ms`;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`${failure}:\n${proc.log}`);
}

/** `awaitReady` for a spec's ready port, if it has one. */
export async function awaitReadyPort(proc: ServerProcess, spec: ProcessSpec): Promise<void> {
  const { readyPort: port, readyHost: host = '127.0.0.1' } = spec;
  if (port === undefined) return;
  await awaitReady(proc, spec.name, {
    what: `answer on ${host}:${port}`,
    probe: () => portAnswers(port, host),
    timeoutMs: spec.readyTimeoutMs ?? 15_000,
  });
}
