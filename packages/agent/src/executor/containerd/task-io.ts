import { execFile } from 'node:child_process';
import { constants, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TaskOutput } from '../executor.js';
import { LineSplitter } from '../line-splitter.js';

const run = promisify(execFile);

/**
 * A task's stdout and stderr as FIFOs in the agent's state directory: the runtime's shim writes into them and
 * the agent reads whole lines out. They outlive an agent restart, so a restarted agent reopens them and goes on
 * reading (live restore). Opened read-write so the read side never sees end-of-file before the shim opens them
 * (nor blocks a thread waiting for it); reading ends when the task has ended and the FIFOs are drained.
 */
export class TaskIo {
  readonly stdout: string;
  readonly stderr: string;
  private readonly sockets: Socket[] = [];

  constructor(
    readonly dir: string,
    private readonly taskId: string,
    private readonly output: TaskOutput | undefined,
  ) {
    this.stdout = path.join(dir, 'stdout');
    this.stderr = path.join(dir, 'stderr');
  }

  /** Makes the FIFOs if they do not exist yet and starts reading them. */
  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // One mkfifo for both (Node has no mkfifo of its own, and each process spawned costs a few ms).
    const missing = [this.stdout, this.stderr].filter((f) => !existsSync(f));
    if (missing.length > 0) await run('mkfifo', ['-m', '0600', ...missing]);
    for (const [file, stream] of [
      [this.stdout, 'stdout'],
      [this.stderr, 'stderr'],
    ] as const) {
      const fd = openSync(file, constants.O_RDWR | constants.O_NONBLOCK);
      const socket = new Socket({ fd, readable: true, writable: false });
      this.sockets.push(socket);
      const splitter = new LineSplitter((lines) => this.output?.(this.taskId, stream, lines));
      socket.on('data', (chunk: Buffer) => splitter.write(chunk));
      socket.on('close', () => splitter.end());
      // A read error closes the socket, which ends its lines ('close' above): nothing else is owed to it.
      socket.on('error', () => undefined);
    }
  }

  /** Stops reading, after a moment for the shim to pass on what the process wrote last. */
  async close(drainMs = 100): Promise<void> {
    if (this.sockets.length === 0) return;
    await new Promise((r) => setTimeout(r, drainMs));
    // Destroying emits 'close' later: wait for it, so the last partial line has gone out when this resolves.
    await Promise.all(
      this.sockets.splice(0).map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed) return resolve();
            socket.once('close', () => resolve());
            socket.destroy();
          }),
      ),
    );
  }

  /** Closes and removes the FIFOs. */
  async remove(): Promise<void> {
    await this.close(0);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
