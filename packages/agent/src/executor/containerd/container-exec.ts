import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../error-message.js';
import type { ExecResult, NetworkProbe } from '../executor.js';
import { runCommand } from '../run-command.js';
import type { NodeContainers } from './node-containers.js';
import { buildExecProcess } from './runtime-spec.js';
import { TaskIo } from './task-io.js';

/** The OCI process of a container, as far as a command run inside it (exec) inherits it. */
export type ExecBase = Record<string, unknown> & { env?: string[]; cwd?: string };

/** What an exec keeps of a command's output (as runCommand does on the node). */
const OUTPUT_MAX = 4096;

/** The container a command runs in: its task, its own process settings, and its directory on the node. */
export interface ExecTarget {
  taskId: string;
  base: ExecBase;
  /** The task's directory: the command's FIFOs are made in it for the moment it runs. */
  dir: string;
}

/**
 * Runs a command inside a running container through containerd (health checks), as the container's own process
 * with other arguments; killed after timeoutMs. Its stdout and stderr come back together, cut to 4 KiB.
 */
export async function execInContainer(
  containers: NodeContainers,
  target: ExecTarget,
  argv: string[],
  timeoutMs: number,
): Promise<ExecResult> {
  const { taskId } = target;
  const execId = `exec-${randomBytes(4).toString('hex')}`;
  let output = '';
  const io = new TaskIo(path.join(target.dir, execId), taskId, (_id, _stream, lines) => {
    if (output.length < OUTPUT_MAX) output = `${output}${lines.join('\n')}\n`.slice(0, OUTPUT_MAX);
  });
  await io.open();
  try {
    await containers.exec(taskId, execId, io, buildExecProcess(argv, target.base));
    await containers.start(taskId, { execId });
    const waited = containers.wait(taskId, { execId, timeoutMs: timeoutMs + 5_000 });
    const exitStatus = await Promise.race([waited, sleep(timeoutMs).then(() => undefined)]);
    if (exitStatus === undefined) {
      // Past its timeout: killed. A kill or wait that fails (it has just ended) changes nothing: it timed out.
      await containers.kill(taskId, 9, { execId }).catch(() => undefined);
      await waited.catch(() => undefined);
      await io.close(20);
      return { exitCode: 137, output: output.trimEnd(), timedOut: true };
    }
    await io.close(20);
    return { exitCode: exitStatus, output: output.trimEnd() };
  } catch (err) {
    return { exitCode: 126, output: errorMessage(err) };
  } finally {
    // Fails when the exec was never made (the error is the result already); the task's delete takes any left.
    await containers.deleteExec(taskId, execId).catch(() => undefined);
    await io.remove();
  }
}

/**
 * An HTTP or TCP probe of 127.0.0.1 inside the network namespace of the process `pid`: busybox's wget or nc run
 * there through nsenter, which costs far less than an exec through containerd and runc.
 */
export async function probeInNamespace(
  pid: number,
  probe: NetworkProbe,
  timeoutMs: number,
  tool: string,
): Promise<ExecResult> {
  if (!existsSync(tool)) {
    return {
      exitCode: 127,
      output: `HTTP and TCP probes of containers need busybox on the node (${tool}): apt-get install busybox-static`,
    };
  }
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  // The timeout is the process's (busybox 1.35's wget crashes on -T); nc's -e runs a program once connected:
  // `true` ends at once, and nc with it.
  const argv =
    probe.kind === 'http'
      ? [tool, 'wget', '-q', '-O', '-', `http://127.0.0.1:${probe.port}${probe.path}`]
      : [tool, 'nc', '-w', seconds, '127.0.0.1', String(probe.port), '-e', '/bin/true'];
  const { error: _error, ...result } = await runCommand(
    'nsenter',
    ['-t', String(pid), '-n', '--', ...argv],
    timeoutMs,
    1,
  );
  return { ...result, output: result.output.trim() };
}
