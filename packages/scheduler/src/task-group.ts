import {
  type AttributeReader,
  attributeReader,
  type CompiledConstraint,
  type CompiledPlatform,
  compileConstraints,
  compilePlatforms,
  type Placement,
  type Task,
  usesFiles,
} from '@flotilla/api';
import { portLabel } from './host-port.js';
import { type TaskUsage, usageOf } from './task-usage.js';
import { compareStrings } from './tie-break.js';

/**
 * Pending tasks of one service spec version. They were made from the same spec, so they share placement,
 * reservations and ports: filters are compiled once per group, and a node that fails a static filter fails for
 * the whole group.
 */
export class TaskGroup {
  readonly serviceId: string;
  readonly specVersion: bigint;
  /** Tasks pinned to a node (global services): only that node is considered. */
  readonly pinned: Task[] = [];
  /** Tasks free to go to any node. */
  readonly free: Task[] = [];
  readonly usage: TaskUsage;
  readonly portLabels: readonly string[];
  readonly constraints: readonly CompiledConstraint[];
  readonly platforms: readonly CompiledPlatform[];
  /** Platforms as users write them, for messages: `linux/arm64`. */
  readonly platformText: string;
  /** Zero: no limit. */
  readonly maxReplicas: number;
  readonly preferences: readonly AttributeReader[];
  /** As the service's spec version said it (absent: none). */
  readonly placement: Placement | undefined;
  /** The service allows nodes that run tasks as plain processes, without isolation, and uses no secret or config. */
  readonly allowProcessExecutor: boolean;
  /** Its tasks mount secrets or configs, which only containers can. */
  readonly usesFiles: boolean;
  /** Everything static filters read from the group: groups with the same signature share their verdicts. */
  readonly signature: string;

  constructor(first: Task) {
    this.serviceId = first.serviceId;
    this.specVersion = first.specVersion;
    this.usage = usageOf(first);
    this.portLabels = this.usage.ports.map(portLabel);
    const placement = first.placement;
    this.constraints = compileConstraints(placement);
    this.platforms = compilePlatforms(placement);
    this.platformText = (placement?.platforms ?? []).map((p) => `${p.os || '*'}/${p.architecture || '*'}`).join(', ');
    this.maxReplicas = Number(placement?.maxReplicasPerNode ?? 0n);
    this.preferences = (placement?.spread ?? []).map((name) => attributeReader(name) ?? (() => undefined));
    this.placement = placement;
    // Secrets and configs are mounted into containers: a node that runs plain processes cannot deliver them.
    this.usesFiles = usesFiles(first.spec);
    this.allowProcessExecutor = placement?.allowProcessExecutor === true && !this.usesFiles;
    this.signature = JSON.stringify([
      this.constraints.map((c) => c.text),
      this.platforms,
      this.allowProcessExecutor,
      this.usesFiles,
    ]);
  }
}

/**
 * Groups pending tasks by (service, spec version), in a deterministic order whatever the input order: groups by
 * service id then version, tasks by slot then id. A task id seen twice is placed once. Bucketing first and
 * sorting each bucket keeps a 100,000-task batch from paying for one big four-key sort.
 */
export function groupPending(pending: readonly Task[]): TaskGroup[] {
  const buckets = new Map<string, Map<bigint, Task[]>>();
  for (const task of pending) {
    let versions = buckets.get(task.serviceId);
    if (versions === undefined) {
      versions = new Map();
      buckets.set(task.serviceId, versions);
    }
    const tasks = versions.get(task.specVersion);
    if (tasks === undefined) versions.set(task.specVersion, [task]);
    else tasks.push(task);
  }
  const groups: TaskGroup[] = [];
  const seen = new Set<string>();
  for (const serviceId of [...buckets.keys()].sort(compareStrings)) {
    const versions = buckets.get(serviceId) as Map<bigint, Task[]>;
    for (const version of [...versions.keys()].sort(compareBigints)) {
      const tasks = (versions.get(version) as Task[]).sort(
        (a, b) => compareBigints(a.slot, b.slot) || compareStrings(a.id, b.id),
      );
      const group = new TaskGroup(tasks[0] as Task);
      for (const task of tasks) {
        if (seen.has(task.id)) continue;
        seen.add(task.id);
        (task.nodeId ? group.pinned : group.free).push(task);
      }
      if (group.pinned.length + group.free.length > 0) groups.push(group);
    }
  }
  return groups;
}

function compareBigints(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
