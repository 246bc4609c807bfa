import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Task } from '@flotilla/api';
import { describe, expect, it, vi } from 'vitest';
import { ProcessExecutor } from './process-executor.js';

function task(id: string, script: string): Task {
  return Task.fromPartial({ id, serviceName: 'test_svc', spec: { command: ['sh', '-c', script] } });
}

/** Runs the script to its end and until the `last` lines were shipped (the pipes may close just after the exit). */
async function run(script: string, last: string[]) {
  const out: { taskId: string; stream: string; lines: string[] }[] = [];
  const executor = new ProcessExecutor({ output: (taskId, stream, lines) => out.push({ taskId, stream, lines }) });
  const t = task('t1', script);
  await executor.prepare(t);
  await executor.start(t);
  const exit = await executor.wait(t.id);
  await vi.waitFor(() => expect(last.every((l) => out.some((o) => o.lines.includes(l)))).toBe(true));
  await executor.remove(t.id);
  const lines = (stream: string) => out.filter((o) => o.stream === stream).flatMap((o) => o.lines);
  return { exit, out, stdout: lines('stdout'), stderr: lines('stderr') };
}

describe('the process executor ships what tasks print', () => {
  it('as whole lines, stdout and stderr apart, the last partial line when the process exits', async () => {
    const { exit, out, stdout, stderr } = await run(
      "printf 'one\\ntw'; sleep 0.1; printf 'o\\nthree'; echo oops >&2; printf 'no newline' >&2; exit 4",
      ['three', 'no newline'],
    );
    expect(exit.exitCode).toBe(4);
    expect(stdout).toEqual(['one', 'two', 'three']);
    expect(stderr).toEqual(['oops', 'no newline']);
    expect(out.every((o) => o.taskId === 't1' && o.lines.length > 0)).toBe(true);
  });

  it('cuts a line over 16 KiB into pieces', async () => {
    const { stdout } = await run("head -c 40000 /dev/zero | tr '\\0' x; echo; echo after", ['after']);
    expect(stdout.map((l) => l.length)).toEqual([16_384, 16_384, 40_000 - 2 * 16_384, 5]);
    expect(stdout.at(-1)).toBe('after');
  });

  it('runs a task that prints a lot without anywhere to send it', async () => {
    const executor = new ProcessExecutor();
    const t = task('t2', 'head -c 1000000 /dev/zero');
    await executor.prepare(t);
    await executor.start(t);
    // The pipe is drained even without an output function, or the child would block once it is full.
    expect(await executor.wait(t.id)).toEqual({ exitCode: 0 });
  });
});

describe('the process executor without cgroups', () => {
  function limited(id: string, script: string): Task {
    return Task.fromPartial({
      id,
      serviceName: 'test_svc',
      spec: { command: ['sh', '-c', script] },
      resources: { limits: { memoryBytes: 64n * 2n ** 20n, pids: 10n } },
    });
  }

  it('runs tasks with limits without them when cgroups are off, and says so once', async () => {
    const warnings: string[] = [];
    const executor = new ProcessExecutor({ cgroups: false, warn: (m) => warnings.push(m) });
    for (const id of ['t3', 't4']) {
      const t = limited(id, 'exit 3');
      await executor.prepare(t);
      await executor.start(t);
      expect(await executor.wait(t.id)).toEqual({ exitCode: 3 });
      await executor.remove(t.id);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^task t3 \(test_svc\) runs without its memory limit \(64 MiB\), pids limit \(10\): cgroup limits are turned off/,
    );
  });

  it('runs a task without the limits a cgroup filesystem cannot give (a missing controller), and says which', async () => {
    const root = mkdtempSync(join(tmpdir(), 'flotilla-cgroup-'));
    try {
      // A unified hierarchy whose root offers no memory controller, and whose task directories get none at all.
      writeFileSync(join(root, 'cgroup.controllers'), 'cpu pids\n');
      const warnings: string[] = [];
      const executor = new ProcessExecutor({ cgroups: { root, scope: 'unit' }, warn: (m) => warnings.push(m) });
      const t = limited('t5', 'exit 0');
      await executor.prepare(t);
      await executor.start(t);
      expect(await executor.wait(t.id)).toEqual({ exitCode: 0 });
      await executor.remove(t.id);
      await executor.close();
      expect(warnings).toHaveLength(1);
      // As root the controllers are missing; without root that is the reason.
      expect(warnings[0]).toMatch(/runs without its memory limit \(64 MiB\).*(memory controller|not running as root)/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
