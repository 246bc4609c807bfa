import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { Task } from '@flotilla/api';
import { type ExecResult, type Executor, type Exit, RejectedError, type TaskOutput } from '../executor.js';
import { LineSplitter } from '../line-splitter.js';
import { runCommand } from '../run-command.js';
import { ProcessCgroups } from './process-cgroup.js';
import type { TaskCgroup } from './task-cgroup.js';

interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
}

export interface ProcessExecutorOptions {
  /** Where the tasks' stdout and stderr go, as whole lines (default: nowhere). */
  output?: TaskOutput;
  /**
   * Memory, CPU and pids limits through cgroups (v1 or v2). Default: on when the agent runs as root and there is
   * a cgroup filesystem. `scope` names this agent's cgroup directory (unique per agent on the machine; a stable
   * one lets a restarted agent clean up after its predecessor); `root` is where the cgroup filesystem is.
   */
  cgroups?: boolean | { scope?: string; root?: string };
  /** Told when a task has to run without limits it asked for (once per limit and reason). */
  warn?: (message: string) => void;
}

/**
 * Runs the task's command once the shell has written its own PID to each cgroup.procs file, so the command is
 * in its cgroup from its first instruction. Files and command arrive as arguments, never as script text. A file
 * that cannot be written is said on the task's stderr and the command runs anyway, without that limit.
 */
const ENTER_CGROUP =
  'n=$1; shift; while [ "$n" -gt 0 ]; do ' +
  '{ echo $$ > "$1"; } 2>/dev/null || echo "flotilla: could not enter cgroup $1: running without its limit" >&2; ' +
  'shift; n=$((n - 1)); done; exec "$@"';

/**
 * Runs a task's command as a child process of the agent, with no image and no isolation: for machines without
 * root or containerd, so a development cluster still runs something real. The task's entrypoint and command
 * (or `sh -c` for a single string) become the process; env and working directory apply; the image is ignored.
 * Memory, CPU and pids limits apply through a cgroup per task where the machine allows (process-cgroup.ts).
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';
  private readonly tasks = new Map<string, Running>();
  private readonly commands = new Map<string, string[]>();
  private readonly sendOutput: TaskOutput | undefined;
  private readonly cgroups: ProcessCgroups;
  private readonly warn: ((message: string) => void) | undefined;
  private readonly taskCgroups = new Map<string, TaskCgroup>();

  constructor(options: ProcessExecutorOptions = {}) {
    this.sendOutput = options.output;
    this.warn = options.warn;
    const cgroups = options.cgroups;
    this.cgroups = new ProcessCgroups({
      ...(typeof cgroups === 'boolean' ? { enabled: cgroups } : { ...cgroups }),
      ...(options.warn ? { warn: options.warn } : {}),
    });
  }

  async prepare(task: Task): Promise<void> {
    const argv = [...(task.spec?.entrypoint ?? []), ...(task.spec?.command ?? [])];
    if (argv.length === 0) {
      throw new RejectedError(
        `the process executor runs a service's command, and ${task.serviceName || task.serviceId} has none: give it a command, or run the node with containerd`,
      );
    }
    this.commands.set(task.id, argv);
    // Limits that cannot be applied do not stop the task (a warning says so): see the README on the process executor.
    const cgroup = await this.cgroups.create(task);
    if (cgroup) this.taskCgroups.set(task.id, cgroup);
  }

  async start(task: Task): Promise<void> {
    const [file, ...args] = this.commands.get(task.id) ?? [];
    if (!file) throw new RejectedError(`task ${task.id} was not prepared`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    for (const entry of task.spec?.env ?? []) {
      const at = entry.indexOf('=');
      if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
    }
    const cwd = task.spec?.workingDir || undefined;
    const cgroup = this.taskCgroups.get(task.id);
    // In a cgroup, a shell starts first: the command is found here, so a missing one is rejected as without it.
    const argv: [string, string[]] = cgroup
      ? [
          '/bin/sh',
          [
            '-c',
            ENTER_CGROUP,
            'flotilla-cgroup',
            String(cgroup.procsFiles.length),
            ...cgroup.procsFiles,
            await executable(file, env.PATH ?? '', cwd),
            ...args,
          ],
        ]
      : [file, args];
    const child = spawn(argv[0], argv[1], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pipeOutput(task.id, child);
    const ended = new Promise<Exit>((resolve) => {
      child.once('error', (err) => resolve({ exitCode: 127, signal: undefined, ...{ error: err.message } }));
      child.once('exit', (code, signal) => resolve({ exitCode: code ?? 128, ...(signal ? { signal } : {}) }));
    });
    const exited = cgroup ? ended.then((exit) => settle(exit, cgroup)) : ended;
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
    const cgroup = this.taskCgroups.get(taskId);
    this.taskCgroups.delete(taskId);
    // Kills anything of the task still running, then removes its cgroup.
    const left = (await cgroup?.remove()) ?? [];
    if (left.length > 0) {
      this.warn?.(
        `task ${taskId}: could not remove its cgroup ${left.join(', ')} (processes still in it?); ` +
          'a restarted agent with the same cgroup scope removes it, or rmdir it by hand once it is empty',
      );
    }
  }

  /** Removes this agent's cgroup directories (its tasks' ones go with remove()). */
  close(): Promise<void> {
    return this.cgroups.close();
  }

  /** Health-check commands run on the host, beside the task's process (there is no container to enter). */
  async exec(_taskId: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) return { exitCode: 127, output: 'empty command' };
    const { error, ...result } = await runCommand(file, args, timeoutMs, 127);
    return error === undefined ? result : { ...result, output: result.output || error };
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

/**
 * Once the task's process has ended: whether the kernel killed it for memory (a SIGKILL, or a shell reporting
 * one as 137, while the cgroup's OOM kill counter is up), and the end of what it left running in its cgroup.
 */
async function settle(exit: Exit, cgroup: TaskCgroup): Promise<Exit> {
  const killed = exit.signal === 'SIGKILL' || exit.exitCode === 137;
  const oomKilled = killed && (await cgroup.oomKills()) > 0;
  await cgroup.killAll();
  return oomKilled ? { ...exit, oomKilled } : exit;
}

/** Where the command is, as execvp would find it on the task's PATH, or a rejection that says what to do. */
async function executable(file: string, path: string, cwd: string | undefined): Promise<string> {
  const candidates = file.includes('/')
    ? [resolvePath(cwd ?? process.cwd(), file)]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(isAbsolute(dir) ? dir : resolvePath(cwd ?? process.cwd(), dir), file));
  for (const candidate of candidates) {
    // Not there or not executable: the next candidate, and in the end a rejection that says so.
    const runnable = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (runnable) return candidate;
  }
  throw new RejectedError(
    `cannot run ${file}: ${file.includes('/') ? 'it is not an executable file' : `not found on the PATH (${path})`}; install it on the node or give the command's full path`,
  );
}
