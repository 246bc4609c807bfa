import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LimitKind } from '../task-limits.js';

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

/** A layout the agent can put tasks in. */
export type UsableLayout = CgroupLayout & { version: 1 | 2 };

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

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
): { use: true; layout: UsableLayout } | { use: false; why: string } {
  if (wanted === false) return { use: false, why: 'cgroup limits are turned off for this agent' };
  if (!ctx.isRoot) return { use: false, why: 'the agent is not running as root, so it cannot create cgroups' };
  const layout = ctx.layout();
  if (layout.version === 0) return { use: false, why: layout.why };
  return { use: true, layout };
}

/** Which requested limits the layout has a controller for; the others with the reason. */
export function planLimits(layout: UsableLayout, kinds: LimitKind[]): LimitNotApplied[] {
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

/** The top directory of each hierarchy the layout has (one on v2). */
export function hierarchyDirs(layout: UsableLayout): string[] {
  return layout.version === 2 ? [layout.root] : [...layout.hierarchies.values()];
}
