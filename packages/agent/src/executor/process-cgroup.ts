import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Task } from '@flotilla/api';

/** The limits a process task can have; zero means none. */
export interface ProcessLimits {
  memoryBytes: number;
  /** 1e9 is one CPU. */
  nanoCpus: number;
  pids: number;
}

export type LimitKind = 'memory' | 'cpu' | 'pids';

/** A limit the task runs without, and why. */
export interface LimitNotApplied {
  kind: LimitKind;
  why: string;
}

/**
 * What the machine offers: the unified hierarchy (v2) with the controllers its root has, separate v1 hierarchies
 * (controller → directory; `cpuacct` is only read, for CPU usage), or nothing usable.
 */
export type CgroupLayout =
  | { version: 2; root: string; controllers: ReadonlySet<string> }
  | { version: 1; root: string; hierarchies: ReadonlyMap<string, string> }
  | { version: 0; root: string; why: string };

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
/** Every agent's task cgroups live under this name at the top of each hierarchy, one directory per agent. */
const TOP = 'flotilla-process';
const CFS_PERIOD_US = 100_000;
/** A killed process leaves its cgroup a moment after it is reaped; rmdir fails with EBUSY until then. */
const REMOVE_ATTEMPTS = 40;
const REMOVE_RETRY_MS = 50;

export function limitsOf(task: Task): ProcessLimits {
  const limits = task.resources?.limits;
  const positive = (v: bigint | undefined) => (v !== undefined && v > 0n ? Number(v) : 0);
  return {
    memoryBytes: positive(limits?.memoryBytes),
    nanoCpus: positive(limits?.nanoCpus),
    pids: positive(limits?.pids),
  };
}

export function requestedKinds(limits: ProcessLimits): LimitKind[] {
  const kinds: LimitKind[] = [];
  if (limits.memoryBytes > 0) kinds.push('memory');
  if (limits.nanoCpus > 0) kinds.push('cpu');
  if (limits.pids > 0) kinds.push('pids');
  return kinds;
}

/** Reads which cgroup version is mounted at root and what it offers. */
export function detectCgroups(root: string = DEFAULT_CGROUP_ROOT): CgroupLayout {
  const unified = join(root, 'cgroup.controllers');
  if (existsSync(unified)) {
    const controllers = new Set(readFileSync(unified, 'utf8').split(/\s+/).filter(Boolean));
    return { version: 2, root, controllers };
  }
  const hierarchies = new Map<string, string>();
  for (const name of ['memory', 'cpu', 'cpuacct', 'pids']) {
    const dir = join(root, name);
    if (existsSync(join(dir, 'cgroup.procs'))) hierarchies.set(name, dir);
  }
  if (hierarchies.size > 0) return { version: 1, root, hierarchies };
  return { version: 0, root, why: `no cgroup filesystem at ${root}` };
}

/** Whether this agent puts tasks in cgroups: asked for (or by default), as root, with a cgroup filesystem. */
export function decideCgroups(
  wanted: boolean | undefined,
  ctx: { isRoot: boolean; layout: () => CgroupLayout },
): { use: true; layout: CgroupLayout & { version: 1 | 2 } } | { use: false; why: string } {
  if (wanted === false) return { use: false, why: 'cgroup limits are turned off for this agent' };
  if (!ctx.isRoot) return { use: false, why: 'the agent is not running as root, so it cannot create cgroups' };
  const layout = ctx.layout();
  if (layout.version === 0) return { use: false, why: layout.why };
  return { use: true, layout };
}

/** Which requested limits the layout has a controller for; the others with the reason. */
export function planLimits(layout: CgroupLayout & { version: 1 | 2 }, kinds: LimitKind[]): LimitNotApplied[] {
  const missing: LimitNotApplied[] = [];
  for (const kind of kinds) {
    if (layout.version === 2 && !layout.controllers.has(kind)) {
      missing.push({
        kind,
        why: `the ${kind} controller is not available in ${join(layout.root, 'cgroup.controllers')}`,
      });
    } else if (layout.version === 1 && !layout.hierarchies.has(kind)) {
      missing.push({ kind, why: `no ${kind} hierarchy is mounted at ${join(layout.root, kind)}` });
    }
  }
  return missing;
}

export interface ProcessCgroupsOptions {
  /** Asked for explicitly (true/false); by default on when the agent is root and a cgroup filesystem is there. */
  enabled?: boolean;
  /**
   * Names this agent's directory, so agents on one machine never share one. A stable name (e.g. from the state
   * directory) also lets a restarted agent remove what its predecessor left. Default: unique per instance.
   */
  scope?: string;
  /** Where the cgroup filesystem is (default /sys/fs/cgroup); tests point it elsewhere. */
  root?: string;
  /** Told once per limit and reason when a task has to run without a limit. */
  warn?: (message: string) => void;
}

/**
 * Puts process tasks into cgroups of their own with their memory, CPU and pids limits: this agent's are under
 * `<hierarchy>/flotilla-process/<scope>/<task id>`. Where the machine does not allow it, tasks run without the
 * limits and the agent says so once. Tasks without limits get no cgroup, as before.
 */
export class ProcessCgroups {
  private readonly decision: ReturnType<typeof decideCgroups>;
  private readonly scope: string;
  private readonly stableScope: boolean;
  private readonly warn: ((message: string) => void) | undefined;
  private readonly warned = new Set<string>();
  private swept: Promise<void> | undefined;

  constructor(options: ProcessCgroupsOptions = {}) {
    const root = options.root ?? DEFAULT_CGROUP_ROOT;
    this.decision = decideCgroups(options.enabled, {
      isRoot: process.getuid?.() === 0,
      layout: () => detectCgroups(root),
    });
    this.stableScope = options.scope !== undefined;
    this.scope = safeName(options.scope ?? `agent-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.warn = options.warn;
  }

  /** A cgroup with the task's limits, or none when it has no limits or none could be applied (said in a warning). */
  async create(task: Task): Promise<TaskCgroup | undefined> {
    const limits = limitsOf(task);
    const kinds = requestedKinds(limits);
    if (kinds.length === 0) return undefined;
    if (!this.decision.use) {
      const why = this.decision.why;
      this.report(
        task,
        limits,
        kinds.map((kind) => ({ kind, why })),
      );
      return undefined;
    }
    const layout = this.decision.layout;
    if (this.stableScope) {
      this.swept ??= this.sweep(layout);
      await this.swept;
    }
    const missing = planLimits(layout, kinds);
    const cgroup =
      layout.version === 2
        ? await createV2(layout, [TOP, this.scope, safeName(task.id)], limits, kinds, missing)
        : await createV1(layout, [TOP, this.scope, safeName(task.id)], limits, kinds, missing);
    this.report(task, limits, missing);
    return cgroup;
  }

  /**
   * Removes this agent's directory, and the shared one above it when no other agent uses it (agent stop, after
   * its tasks were removed). Not done as each last task goes: a task being created meanwhile would lose its parent.
   */
  async close(): Promise<void> {
    if (!this.decision.use) return;
    for (const base of hierarchyDirs(this.decision.layout)) {
      // rmdir of a directory still in use fails, which is what should happen: ignored.
      await rmdir(join(base, TOP, this.scope)).catch(() => undefined);
      await rmdir(join(base, TOP)).catch(() => undefined);
    }
  }

  private report(task: Task, limits: ProcessLimits, missing: LimitNotApplied[]): void {
    const fresh = missing.filter((m) => !this.warned.has(`${m.kind}\0${m.why}`));
    if (fresh.length === 0 || !this.warn) return;
    for (const m of fresh) this.warned.add(`${m.kind}\0${m.why}`);
    const byReason = new Map<string, LimitKind[]>();
    for (const m of fresh) byReason.set(m.why, [...(byReason.get(m.why) ?? []), m.kind]);
    const reasons = [...byReason].map(([why, kinds]) => `${kinds.map((k) => describe(k, limits)).join(', ')}: ${why}`);
    this.warn(
      `task ${task.id} (${task.serviceName || task.serviceId}) runs without its ${reasons.join('; ')}. ` +
        'To apply limits, run the agent as root on a machine whose cgroups have these controllers, or run the ' +
        'node with containerd. Other tasks missing a limit for the same reason are not reported again',
    );
  }

  /** A previous agent with this scope may have died and left tasks running: end them and their cgroups. */
  private async sweep(layout: CgroupLayout & { version: 1 | 2 }): Promise<void> {
    for (const base of hierarchyDirs(layout)) {
      const scopeDir = join(base, TOP, this.scope);
      const entries = await readdir(scopeDir, { withFileTypes: true }).catch(() => []);
      const stale = entries.filter((e) => e.isDirectory()).map((e) => join(scopeDir, e.name));
      if (stale.length > 0) await new TaskCgroup(layout.version, stale, undefined, undefined).remove();
    }
  }
}

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
    const text = await readFile(this.oomFile, 'utf8').catch(() => '');
    const match = /^oom_kill (\d+)$/m.exec(text);
    return match ? Number(match[1]) : 0;
  }

  /** CPU time the task's processes used, in nanoseconds (undefined when there is no counter). */
  async cpuUsageNs(): Promise<number | undefined> {
    if (!this.cpuFile) return undefined;
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
        await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
        continue;
      }
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

async function createV2(
  layout: CgroupLayout & { version: 2 },
  path: string[],
  limits: ProcessLimits,
  kinds: LimitKind[],
  missing: LimitNotApplied[],
): Promise<TaskCgroup | undefined> {
  const wanted = kinds.filter((k) => !missing.some((m) => m.kind === k));
  if (wanted.length === 0) return undefined;
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
  if (missing.length === kinds.length) {
    await cgroup.remove();
    return undefined;
  }
  return cgroup;
}

async function createV1(
  layout: CgroupLayout & { version: 1 },
  path: string[],
  limits: ProcessLimits,
  kinds: LimitKind[],
  missing: LimitNotApplied[],
): Promise<TaskCgroup | undefined> {
  const wanted = kinds.filter((k) => !missing.some((m) => m.kind === k));
  if (wanted.length === 0) return undefined;
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
  if (missing.length === kinds.length) {
    await cgroup.remove();
    return undefined;
  }
  return cgroup;
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

function hierarchyDirs(layout: CgroupLayout & { version: 1 | 2 }): string[] {
  return layout.version === 2 ? [layout.root] : [...layout.hierarchies.values()];
}

/** CFS quota for a share of CPUs, at least the kernel's minimum of 1 ms. */
function cfsQuota(nanoCpus: number): number {
  return Math.max(1000, Math.round((nanoCpus / 1e9) * CFS_PERIOD_US));
}

function describe(kind: LimitKind, limits: ProcessLimits): string {
  if (kind === 'memory') return `memory limit (${Math.round(limits.memoryBytes / 2 ** 20)} MiB)`;
  if (kind === 'cpu') return `CPU limit (${limits.nanoCpus / 1e9} CPUs)`;
  return `pids limit (${limits.pids})`;
}

/** A path component from an ID or a scope: nothing that could climb out of the agent's directory. */
function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}` : err instanceof Error ? err.message : String(err);
}
