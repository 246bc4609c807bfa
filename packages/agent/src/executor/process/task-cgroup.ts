import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../error-message.js';
import { oomKillCount } from '../oom-kills.js';
import { CFS_PERIOD_US, cfsQuotaUs, type LimitKind, type TaskLimits } from '../task-limits.js';
import type { CgroupLayout, LimitNotApplied } from './cgroup-layout.js';

/** A killed process leaves its cgroup a moment after it is reaped; rmdir fails with EBUSY until then. */
const REMOVE_ATTEMPTS = 40;
const REMOVE_RETRY_MS = 50;

/** One task's cgroup (a directory per v1 hierarchy, or one on v2). */
export class TaskCgroup {
  private removing: Promise<string[]> | undefined;

  constructor(
    private readonly version: 1 | 2,
    /** Every directory the task's processes join (cgroup.procs is written in each). */
    readonly dirs: string[],
    /** Where the OOM kill counter is: v2 memory.events, v1 memory.oom_control. */
    private readonly oomFile: string | undefined,
    /** Where CPU usage is: v2 cpu.stat (usage_usec), v1 cpuacct.usage (ns). */
    private readonly cpuFile: string | undefined,
  ) {}

  /** The files the child writes its own PID to before it execs the task's command. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /** How many processes of the task the kernel killed for memory (0 when it cannot tell). */
  async oomKills(): Promise<number> {
    if (!this.oomFile) return 0;
    // Unreadable (the cgroup is gone): no count, which is 0.
    const text = await readFile(this.oomFile, 'utf8').catch(() => '');
    return oomKillCount(text) ?? 0;
  }

  /** CPU time the task's processes used, in nanoseconds (undefined when there is no counter). */
  async cpuUsageNs(): Promise<number | undefined> {
    if (!this.cpuFile) return undefined;
    // Unreadable (the cgroup is gone): no counter.
    const text = await readFile(this.cpuFile, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    if (this.version === 1) return Number(text.trim());
    const match = /^usage_usec (\d+)$/m.exec(text);
    return match ? Number(match[1]) * 1000 : undefined;
  }

  /** Kills whatever is still in the cgroup (processes the task started and left behind). */
  async killAll(): Promise<void> {
    for (const dir of this.dirs) {
      // cgroup.kill (v2, Linux 5.14+) also gets processes that fork while the list is being read.
      if (this.version === 2 && existsSync(join(dir, 'cgroup.kill'))) {
        // A cgroup already gone has nothing to kill; one that still holds processes fails remove(), which says so.
        await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
        continue;
      }
      // Unreadable: the cgroup is gone, and its processes with it.
      const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        if (!/^\d+$/.test(line)) continue;
        try {
          process.kill(Number(line), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }

  /** Kills what is left and removes the directories; resolves to those it could not remove. Idempotent. */
  remove(): Promise<string[]> {
    this.removing ??= this.removeNow();
    return this.removing;
  }

  private async removeNow(): Promise<string[]> {
    let left = [...this.dirs];
    for (let attempt = 0; left.length > 0 && attempt < REMOVE_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(REMOVE_RETRY_MS);
      await this.killAll();
      const still: string[] = [];
      for (const dir of left) {
        try {
          await rmdir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') still.push(dir);
        }
      }
      left = still;
    }
    return left;
  }
}

/**
 * A task's cgroup at `path` below each hierarchy, with the requested limits (`kinds`) the layout can apply;
 * each one that cannot be is added to `missing`, with why. None when no limit could be applied.
 */
export async function createTaskCgroup(
  layout: CgroupLayout & { version: 1 | 2 },
  path: string[],
  limits: TaskLimits,
  kinds: LimitKind[],
  missing: LimitNotApplied[],
): Promise<TaskCgroup | undefined> {
  const wanted = kinds.filter((k) => !missing.some((m) => m.kind === k));
  if (wanted.length === 0) return undefined;
  const request = { path, limits, wanted, missing };
  const cgroup = layout.version === 2 ? await createV2(layout, request) : await createV1(layout, request);
  if (cgroup && missing.length === kinds.length) {
    await cgroup.remove();
    return undefined;
  }
  return cgroup;
}

/** What a task's cgroup is made for: where, its limits, the kinds still wanted, and where refusals are noted. */
interface CgroupRequest {
  path: string[];
  limits: TaskLimits;
  wanted: LimitKind[];
  missing: LimitNotApplied[];
}

async function createV2(
  layout: CgroupLayout & { version: 2 },
  request: CgroupRequest,
): Promise<TaskCgroup | undefined> {
  const { path, limits, wanted, missing } = request;
  // Each level has to hand the controllers down to the next; the task's own directory is a leaf.
  let parent = layout.root;
  const refused = new Map<LimitKind, string>();
  for (const name of path) {
    for (const kind of wanted) {
      await writeFile(join(parent, 'cgroup.subtree_control'), `+${kind}`).catch((err: unknown) => {
        if (!refused.has(kind))
          refused.set(kind, `it cannot be enabled in ${join(parent, 'cgroup.subtree_control')} (${errorText(err)})`);
      });
    }
    parent = join(parent, name);
    try {
      await makeDir(parent);
    } catch (err) {
      for (const kind of wanted) missing.push({ kind, why: `cannot create ${parent} (${errorText(err)})` });
      return undefined;
    }
  }
  const dir = parent;
  const cgroup = new TaskCgroup(2, [dir], join(dir, 'memory.events'), join(dir, 'cpu.stat'));
  // Unreadable: no controller counts as enabled, and each limit is reported as not applied below.
  const enabled = new Set((await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/));
  const writes: [LimitKind, string, string][] = [];
  if (wanted.includes('memory')) {
    writes.push(['memory', 'memory.max', String(limits.memoryBytes)]);
    // No swap: the process cannot get past its memory limit by swapping (as containers here get no extra swap).
    if (existsSync(join(dir, 'memory.swap.max'))) writes.push(['memory', 'memory.swap.max', '0']);
  }
  if (wanted.includes('cpu')) writes.push(['cpu', 'cpu.max', `${cfsQuota(limits.nanoCpus)} ${CFS_PERIOD_US}`]);
  if (wanted.includes('pids')) writes.push(['pids', 'pids.max', String(limits.pids)]);
  for (const kind of wanted) {
    if (!enabled.has(kind)) {
      missing.push({ kind, why: refused.get(kind) ?? `the ${kind} controller is not enabled for ${dir}` });
    }
  }
  await applyWrites(dir, writes, missing);
  return cgroup;
}

async function createV1(layout: CgroupLayout & { version: 1 }, request: CgroupRequest): Promise<TaskCgroup> {
  const { limits, missing } = request;
  const dirs = await makeV1Dirs(layout, request);
  const memory = dirs.get('memory');
  const cpu = dirs.get('cpu');
  const pids = dirs.get('pids');
  const usage = [...dirs.values()].map((d) => join(d, 'cpuacct.usage')).find((f) => existsSync(f));
  const cgroup = new TaskCgroup(1, [...dirs.values()], memory && join(memory, 'memory.oom_control'), usage);
  if (memory) {
    // Memory and memory+swap both at the limit: swap cannot take the process past it.
    const writes: [LimitKind, string, string][] = [['memory', 'memory.limit_in_bytes', String(limits.memoryBytes)]];
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
      writes.push(['memory', 'memory.memsw.limit_in_bytes', String(limits.memoryBytes)]);
    }
    await applyWrites(memory, writes, missing);
  }
  if (cpu) {
    await applyWrites(
      cpu,
      [
        ['cpu', 'cpu.cfs_period_us', String(CFS_PERIOD_US)],
        ['cpu', 'cpu.cfs_quota_us', String(cfsQuota(limits.nanoCpus))],
      ],
      missing,
    );
  }
  if (pids) await applyWrites(pids, [['pids', 'pids.max', String(limits.pids)]], missing);
  return cgroup;
}

/** The task's directory in each v1 hierarchy it needs, by controller (one where two share a hierarchy). */
async function makeV1Dirs(
  layout: CgroupLayout & { version: 1 },
  { path, wanted, missing }: CgroupRequest,
): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  // cpuacct is joined too (when mounted) for CPU usage; where it is mounted with cpu, it is the same directory.
  const names = layout.hierarchies.has('cpuacct') && wanted.includes('cpu') ? [...wanted, 'cpuacct'] : wanted;
  const real = new Set<string>();
  for (const name of names) {
    const base = layout.hierarchies.get(name);
    if (!base) continue;
    const dir = join(base, ...path);
    try {
      await makeDir(dir);
      const resolved = realpathSync(dir);
      if (real.has(resolved)) continue;
      real.add(resolved);
      dirs.set(name, dir);
    } catch (err) {
      if (name !== 'cpuacct')
        missing.push({ kind: name as LimitKind, why: `cannot create ${dir} (${errorText(err)})` });
    }
  }
  return dirs;
}

/** Writes limit files in order; the first refusal for a kind marks that limit as not applied. */
async function applyWrites(
  dir: string,
  writes: [LimitKind, string, string][],
  missing: LimitNotApplied[],
): Promise<void> {
  for (const [kind, file, value] of writes) {
    if (missing.some((m) => m.kind === kind)) continue;
    const path = join(dir, file);
    if (!existsSync(path)) {
      missing.push({ kind, why: `${path} does not exist (is the ${kind} controller enabled?)` });
      continue;
    }
    await writeFile(path, value).catch((err: unknown) => {
      missing.push({ kind, why: `writing ${value} to ${path} was refused (${errorText(err)})` });
    });
  }
}

/** mkdir -p that tries again when another agent, stopping, removed the shared parent in between. */
async function makeDir(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await mkdir(dir, { recursive: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

/** CFS quota for a share of CPUs, at least the kernel's minimum of 1 ms. */
function cfsQuota(nanoCpus: number): number {
  return Math.max(1000, cfsQuotaUs(nanoCpus));
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}` : errorMessage(err);
}
