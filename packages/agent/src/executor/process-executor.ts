import { type ChildProcess, execFile, spawn } from 'node:child_process';
import type { Task } from '@flotilla/api';
import { type ExecResult, type Executor, type Exit, RejectedError } from './executor.js';

interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** The last lines it wrote (until logs go to Redis streams). */
  output: string[];
}

const OUTPUT_LINES = 200;

/**
 * Runs a task's command as a child process of the agent, with no image and no isolation: for machines without
 * root or containerd, so a development cluster still runs something real. The task's entrypoint and command
 * (or `sh -c` for a single string) become the process; env and working directory apply; the image is ignored.
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';
  private readonly tasks = new Map<string, Running>();
  private readonly commands = new Map<string, string[]>();

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
    const output: string[] = [];
    const keep = (d: Buffer) => {
      output.push(...d.toString().split('\n').filter(Boolean));
      if (output.length > OUTPUT_LINES) output.splice(0, output.length - OUTPUT_LINES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (err) => resolve({ exitCode: 127, signal: undefined, ...{ error: err.message } }));
      child.once('exit', (code, signal) => resolve({ exitCode: code ?? 128, ...(signal ? { signal } : {}) }));
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => reject(new RejectedError(`cannot run ${file}: ${err.message}`)));
    });
    this.tasks.set(task.id, { child, exited, output });
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

  /** The last lines a task wrote. */
  output(taskId: string): string[] {
    return [...(this.tasks.get(taskId)?.output ?? [])];
  }
}
