import { randomBytes } from 'node:crypto';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '@flotilla/api';
import { type LimitKind, limitsOf, requestedKinds, type TaskLimits } from '../task-limits.js';
import {
  DEFAULT_CGROUP_ROOT,
  decideCgroups,
  detectCgroups,
  hierarchyDirs,
  type LimitNotApplied,
  planLimits,
  type UsableLayout,
} from './cgroup-layout.js';
import { createTaskCgroup, TaskCgroup } from './task-cgroup.js';

/** Every agent's task cgroups live under this name at the top of each hierarchy, one directory per agent. */
const TOP = 'flotilla-process';

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
    const cgroup = await createTaskCgroup(layout, [TOP, this.scope, safeName(task.id)], limits, kinds, missing);
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

  private report(task: Task, limits: TaskLimits, missing: LimitNotApplied[]): void {
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
  private async sweep(layout: UsableLayout): Promise<void> {
    for (const base of hierarchyDirs(layout)) {
      const scopeDir = join(base, TOP, this.scope);
      // No directory yet: no predecessor left anything here.
      const entries = await readdir(scopeDir, { withFileTypes: true }).catch(() => []);
      const stale = entries.filter((e) => e.isDirectory()).map((e) => join(scopeDir, e.name));
      if (stale.length > 0) await new TaskCgroup(layout.version, stale, undefined, undefined).remove();
    }
  }
}

function describe(kind: LimitKind, limits: TaskLimits): string {
  if (kind === 'memory') return `memory limit (${Math.round(limits.memoryBytes / 2 ** 20)} MiB)`;
  if (kind === 'cpu') return `CPU limit (${limits.nanoCpus / 1e9} CPUs)`;
  return `pids limit (${limits.pids})`;
}

/** A path component from an ID or a scope: nothing that could climb out of the agent's directory. */
function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}
