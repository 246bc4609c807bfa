import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task } from '@flotilla/api';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CGROUP_ROOT, detectCgroups } from './cgroup-layout.js';
import { ProcessExecutor } from './process-executor.js';

const layout = detectCgroups();
const usable = process.getuid?.() === 0 && layout.version !== 0;
// A per-run scope: parallel or leftover runs cannot collide, and afterAll knows exactly what is ours.
const scope = `test-${randomBytes(4).toString('hex')}`;

/** Every directory this run's cgroups could be in: one per hierarchy (v1) or the one tree (v2). */
function scopeDirs(): string[] {
  const bases = layout.version === 1 ? [...layout.hierarchies.values()] : [DEFAULT_CGROUP_ROOT];
  return bases.map((base) => join(base, 'flotilla-process', scope));
}

function taskDirs(taskId: string): string[] {
  return scopeDirs()
    .map((dir) => join(dir, taskId))
    .filter((dir) => existsSync(dir));
}

function cpuUsageNs(taskId: string): number {
  for (const dir of taskDirs(taskId)) {
    if (existsSync(join(dir, 'cpuacct.usage'))) return Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8'));
    if (existsSync(join(dir, 'cpu.stat'))) {
      const usec = /^usage_usec (\d+)$/m.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'));
      if (usec) return Number(usec[1]) * 1000;
    }
  }
  throw new Error(`no CPU usage counter for ${taskId}`);
}

function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function task(id: string, script: string, limits: { memoryBytes?: bigint; nanoCpus?: bigint; pids?: bigint }): Task {
  return Task.fromPartial({
    id: `${scope}-${id}`,
    serviceName: 'cgroup_test',
    spec: { command: ['sh', '-c', script] },
    resources: { limits },
  });
}

const executors: ProcessExecutor[] = [];

function executor() {
  const out: { stream: string; line: string }[] = [];
  const warnings: string[] = [];
  const ex = new ProcessExecutor({
    cgroups: { scope },
    warn: (m) => warnings.push(m),
    output: (_id, stream, lines) => out.push(...lines.map((line) => ({ stream, line }))),
  });
  executors.push(ex);
  return { ex, out, warnings };
}

// A stopping agent removes its own directory once its tasks' cgroups are gone.
afterEach(async () => {
  for (const ex of executors.splice(0)) await ex.close();
});

afterAll(async () => {
  // Whatever a failed test left: end its processes and remove its directories, then say it was left.
  const left: string[] = [];
  for (const dir of scopeDirs()) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      const sub = join(dir, entry.name);
      for (const pid of readFileSync(join(sub, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        process.kill(Number(pid), 'SIGKILL');
      }
      await vi.waitFor(() => rmdirSync(sub), { timeout: 5000 });
      left.push(sub);
    }
    rmdirSync(dir);
    left.push(dir);
  }
  expect(left).toEqual([]);
});

describe.skipIf(!usable)(`the process executor's cgroup limits (cgroup v${layout.version})`, () => {
  it('reports a task that allocates past its 32 MiB memory limit as killed for out of memory', async () => {
    const { ex, warnings } = executor();
    const t = task('oom', 'x=a; while true; do x="$x$x"; done', { memoryBytes: 32n * 2n ** 20n });
    await ex.prepare(t);
    await ex.start(t);
    expect(await ex.wait(t.id)).toMatchObject({ oomKilled: true, signal: 'SIGKILL' });
    await ex.remove(t.id);
    expect(warnings).toEqual([]);
    expect(taskDirs(t.id)).toEqual([]);
  });

  it('keeps a task with a pids limit of 5 from forking more', async () => {
    const { ex, out } = executor();
    const t = task('pids', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo started all', { pids: 5n });
    await ex.prepare(t);
    await ex.start(t);
    const exit = await ex.wait(t.id);
    await ex.remove(t.id);
    // dash gives up at the first fork that fails, so the loop never finishes.
    expect(exit.exitCode).not.toBe(0);
    await vi.waitFor(() => expect(out.some((o) => o.stream === 'stderr' && /fork/i.test(o.line))).toBe(true));
    expect(out.map((o) => o.line)).not.toContain('started all');
    expect(taskDirs(t.id)).toEqual([]);
  });

  it('holds a task burning CPU to about its 0.2 CPU', async () => {
    const { ex } = executor();
    const t = task('cpu', 'while :; do :; done', { nanoCpus: 200_000_000n });
    await ex.prepare(t);
    await ex.start(t);
    try {
      await sleep(300);
      const [u0, t0] = [cpuUsageNs(t.id), performance.now()];
      await sleep(1500);
      const [u1, t1] = [cpuUsageNs(t.id), performance.now()];
      const cpus = (u1 - u0) / 1e6 / (t1 - t0);
      // Upper bound only: on a loaded machine it may well get less than its share, never more than the quota.
      expect(cpus).toBeLessThanOrEqual(0.3);
      expect(cpus).toBeGreaterThan(0);
    } finally {
      await ex.shutdown(t.id, 'SIGKILL', 1000);
      await ex.remove(t.id);
    }
    expect(taskDirs(t.id)).toEqual([]);
  });

  it('ends what a task left running and removes its cgroup on remove()', async () => {
    const { ex, out } = executor();
    const t = task('left', 'sleep 300 & echo "child $!"; wait', { pids: 20n, memoryBytes: 64n * 2n ** 20n });
    await ex.prepare(t);
    expect(taskDirs(t.id).length).toBeGreaterThan(0);
    await ex.start(t);
    await vi.waitFor(() => expect(out.some((o) => o.line.startsWith('child '))).toBe(true));
    const pid = Number(out.find((o) => o.line.startsWith('child '))?.line.slice('child '.length));
    await ex.shutdown(t.id, 'SIGTERM', 5000);
    await ex.wait(t.id);
    await ex.remove(t.id);
    expect(taskDirs(t.id)).toEqual([]);
    // Killed: gone, or a zombie until whoever inherited it reaps it.
    await vi.waitFor(() => expect(ended(pid)).toBe(true));
    // Its tasks gone, a stopping agent removes its own directory too.
    await ex.close();
    expect(scopeDirs().filter((d) => existsSync(d))).toEqual([]);
  });

  it('ends what an agent that died left in its cgroups, when the next one with its scope starts a task', async () => {
    const before = executor();
    const old = task('orphan', 'echo "pid $$"; exec sleep 300', { pids: 5n });
    await before.ex.prepare(old);
    await before.ex.start(old);
    await vi.waitFor(() => expect(before.out.some((o) => o.line.startsWith('pid '))).toBe(true));
    const pid = Number(before.out.find((o) => o.line.startsWith('pid '))?.line.slice('pid '.length));
    // The first agent "dies": its task is neither stopped nor removed. The next one sweeps its scope first.
    const after = executor();
    const t = task('after', 'exit 0', { pids: 5n });
    await after.ex.prepare(t);
    expect(taskDirs(old.id)).toEqual([]);
    await vi.waitFor(() => expect(ended(pid)).toBe(true));
    await after.ex.start(t);
    expect(await after.ex.wait(t.id)).toEqual({ exitCode: 0 });
    await after.ex.remove(t.id);
    expect(await before.ex.wait(old.id)).toMatchObject({ signal: 'SIGKILL' });
  });

  it('passes arguments to the command as they are, without a shell reading them', async () => {
    const { ex, out } = executor();
    const t = Task.fromPartial({
      id: `${scope}-args`,
      serviceName: 'cgroup_test',
      spec: { entrypoint: ['printf'], command: ['%s|', '$(echo no)', '"; echo no', '*'] },
      resources: { limits: { pids: 10n } },
    });
    await ex.prepare(t);
    await ex.start(t);
    expect(await ex.wait(t.id)).toEqual({ exitCode: 0 });
    await vi.waitFor(() => expect(out.map((o) => o.line)).toEqual(['$(echo no)|"; echo no|*|']));
    await ex.remove(t.id);
  });

  it('rejects a command that is not there, as without a cgroup', async () => {
    const { ex } = executor();
    const t = Task.fromPartial({
      id: `${scope}-missing`,
      spec: { command: ['no-such-command-here'] },
      resources: { limits: { pids: 10n } },
    });
    await ex.prepare(t);
    await expect(ex.start(t)).rejects.toMatchObject({ code: 'rejected', message: /not found on the PATH/ });
    await ex.remove(t.id);
    expect(taskDirs(t.id)).toEqual([]);
  });
});
