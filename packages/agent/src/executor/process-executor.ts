import { type ChildProcess, execFile, spawn } from 'node:child_process';
import type { Task } from '@flotilla/api';
import { type ExecResult, type Executor, type Exit, RejectedError, type TaskOutput } from './executor.js';
import { LineSplitter } from './line-splitter.js';

interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
}

export interface ProcessExecutorOptions {
  /** Where the tasks' stdout and stderr go, as whole lines (default: nowhere). */
  output?: TaskOutput;
}

/**
 * Runs a task's command as a child process of the agent, with no image and no isolation: for machines without
 * root or containerd, so a development cluster still runs something real. The task's entrypoint and command
 * (or `sh -c` for a single string) become the process; env and working directory apply; the image is ignored.
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';
  private readonly tasks = new Map<string, Running>();
  private readonly commands = new Map<string, string[]>();
  private readonly sendOutput: TaskOutput | undefined;

  constructor(options: ProcessExecutorOptions = {}) {
    this.sendOutput = options.output;
  }

  async prepare(task: Task): Promise<void> {
    const argv = [...(task.spec?.entrypoint ?? []), ...(task.spec?.command ?? [])];
    if (argv.length === 0) {
      throw new RejectedError(
        `the process executor runs a service's command, and ${task.serviceName || task.serviceId} has none: give it a command, or run the node with containerd`,
      );
    }
    this.commands.set(task.id, argv);
  }

  async start(task: Task): Promise<void> {
    const [file, ...args] = this.commands.get(task.id) ?? [];
    if (!file) throw new RejectedError(`task ${task.id} was not prepared`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    for (const entry of task.spec?.env ?? []) {
      const at = entry.indexOf('=');
      if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
    }
    const child = spawn(file, args, {
      cwd: task.spec?.workingDir || undefined,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pipeOutput(task.id, child);
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (err) => resolve({ exitCode: 127, signal: undefined, ...{ error: err.message } }));
      child.once('exit', (code, signal) => resolve({ exitCode: code ?? 128, ...(signal ? { signal } : {}) }));
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => reject(new RejectedError(`cannot run ${file}: ${err.message}`)));
    });
    this.tasks.set(task.id, { child, exited });
  }

  wait(taskId: string): Promise<Exit> {
    const running = this.tasks.get(taskId);
    return running ? running.exited : Promise.resolve({ exitCode: 0 });
  }

  async shutdown(taskId: string, signal: string, graceMs: number): Promise<void> {
    const running = this.tasks.get(taskId);
    if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
    running.child.kill((signal || 'SIGTERM') as NodeJS.Signals);
    const timer = setTimeout(() => running.child.kill('SIGKILL'), graceMs);
    await running.exited;
    clearTimeout(timer);
  }

  async remove(taskId: string): Promise<void> {
    this.tasks.delete(taskId);
    this.commands.delete(taskId);
  }

  /** Health-check commands run on the host, beside the task's process (there is no container to enter). */
  exec(_taskId: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.resolve({ exitCode: 127, output: 'empty command' });
    return new Promise((resolve) => {
      execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.slice(0, 4096);
        if (!err) return resolve({ exitCode: 0, output });
        const e = err as { code?: unknown; killed?: boolean };
        resolve({
          exitCode: typeof e.code === 'number' ? e.code : 127,
          output: output || err.message,
          ...(e.killed ? { timedOut: true } : {}),
        });
      });
    });
  }

  /** A child process does not outlive the agent in a way it could take back. */
  async adopt(_task: Task): Promise<boolean> {
    return false;
  }

  /**
   * Ships what the process prints, line by line. The pipes are read even with nowhere to send to: a child whose
   * pipe fills up would block on its next write.
   */
  private pipeOutput(taskId: string, child: ChildProcess): void {
    const send = this.sendOutput;
    for (const [name, pipe] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const) {
      if (!pipe) continue;
      if (!send) {
        pipe.resume();
        continue;
      }
      const lines = new LineSplitter((batch) => {
        try {
          send(taskId, name, batch);
        } catch {
          // An error thrown from a pipe's data handler would end the agent; losing a log batch is the lesser harm.
        }
      });
      pipe.on('data', (chunk: Buffer) => lines.write(chunk));
      // The pipe ends when the process (and any child holding it) has exited: the partial last line goes out.
      pipe.once('end', () => lines.end());
    }
  }
}
