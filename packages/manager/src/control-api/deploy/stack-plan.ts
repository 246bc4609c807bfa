import {
  ClusterSettings_Strategy,
  type FieldChange,
  type FileObject,
  isGlobalMode,
  type Node,
  newId,
  type PlannedFileObject,
  PlannedFileObject_Action,
  type PlannedService,
  PlannedService_Action,
  PlannedService_Tasks,
  type PlanStackResponse,
  type Service,
  type StackSpec,
  type Task,
} from '@flotilla/api';
import type { Strategy } from '@flotilla/scheduler';
import { CLUSTER_KEY, type Store, type Versioned } from '@flotilla/store';
import type { DataKey } from '../../secrets/data-key.js';
import { checkAdmission } from '../admission/admission-check.js';
import { type FileObjectDecision, resolveFileObjects } from './file-object-versions.js';
import { newTasks, previewPlacement } from './placement-preview.js';
import { diffSpecs } from './spec-diff.js';
import { decideStack, networkWrites, type ServiceDecision, type TaskChange } from './stack-changes.js';

/** The store as a plan sees it: reads only. A plan holds no way to write, so it cannot change the cluster. */
export type StoreReader = Pick<Store, 'list' | 'get'>;

/** The cluster a plan is made against. */
export interface PlanInput {
  services: readonly Versioned<Service>[];
  nodes: readonly Node[];
  tasks: readonly Task[];
  strategy: Strategy;
  /** Every stored version of every secret and config. */
  files?: readonly Versioned<FileObject>[];
}

/**
 * PlanStack: what DeployStack would do with the same request, and where the tasks it adds would go. Any manager
 * answers (it reads what it needs from etcd); nothing is written. Telling a changed secret or config from the same
 * one takes the data key.
 */
export async function planStack(
  store: StoreReader,
  stack: StackSpec,
  prune: boolean,
  dataKey?: DataKey,
): Promise<PlanStackResponse> {
  // A dry run is refused as the deploy would be, with the same list.
  await checkAdmission(store, stack.services, `the deploy of stack ${stack.name}`);
  const [services, nodes, tasks, cluster, files, networks] = await Promise.all([
    store.list('services'),
    store.list('nodes'),
    store.list('tasks'),
    store.get('clusters', CLUSTER_KEY),
    store.list('files'),
    store.list('networks'),
  ]);
  // Only for its refusals (a missing external network, a name taken, a subnet that overlaps): as the deploy's.
  networkWrites(networks.items, stack, { now: 0n, newId });
  const binpack = cluster?.value.settings?.placementStrategy === ClusterSettings_Strategy.STRATEGY_BINPACK;
  return planFrom(
    {
      services: services.items,
      nodes: nodes.items.map((n) => n.value),
      tasks: tasks.items.map((t) => t.value),
      strategy: binpack ? 'binpack' : 'spread',
      files: files.items,
    },
    stack,
    prune,
    { now: BigInt(Date.now()), newId },
    dataKey,
  );
}

const ACTIONS: Record<ServiceDecision['action'], PlannedService_Action> = {
  create: PlannedService_Action.ACTION_CREATE,
  update: PlannedService_Action.ACTION_UPDATE,
  unchanged: PlannedService_Action.ACTION_UNCHANGED,
  remove: PlannedService_Action.ACTION_REMOVE,
};

const TASKS: Record<TaskChange, PlannedService_Tasks> = {
  none: PlannedService_Tasks.TASKS_NONE,
  kept: PlannedService_Tasks.TASKS_NONE,
  scaled: PlannedService_Tasks.TASKS_SCALED,
  replaced: PlannedService_Tasks.TASKS_REPLACED,
};

/** The plan for deploying `stack` on `cluster`: the deploy's own decisions, a diff of each update, placement. Pure. */
export function planFrom(
  cluster: PlanInput,
  stack: StackSpec,
  prune: boolean,
  make: { now: bigint; newId: () => string },
  dataKey?: DataKey,
): PlanStackResponse {
  // The deploy's own version decisions: its sealed new versions are made here too, and dropped.
  const objects = resolveFileObjects(cluster.files ?? [], stack, dataKey, make);
  const decisions = decideStack(cluster.services, objects.stack, prune, make);
  const versionNames = new Map<string, string>();
  for (const o of [...(cluster.files ?? []).map((f) => f.value), ...objects.decisions.map((d) => d.version)]) {
    versionNames.set(o.id, `${o.name} version ${o.version}`);
  }
  const added: Task[] = [];
  const removed = new Set<string>();
  /** Services scaled down: the replica count they keep. */
  const keeps = new Map<string, bigint>();
  for (const d of decisions) {
    if (d.action === 'remove') removed.add(d.id);
    if (d.action === 'create' && d.next) added.push(...newTasks(d.next, 0n, cluster.nodes));
    if (d.action === 'update' && d.current && d.next) {
      const before = replicasOf(d.current.value);
      const after = replicasOf(d.next);
      if (before === undefined || after === undefined) continue;
      if (after > before) added.push(...newTasks(d.next, before, cluster.nodes));
      if (after < before) keeps.set(d.id, after);
    }
  }
  const previews = previewPlacement({
    nodes: cluster.nodes,
    tasks: cluster.tasks,
    stopped: (t) => removed.has(t.serviceId) || t.slot > (keeps.get(t.serviceId) ?? t.slot),
    added,
    strategy: cluster.strategy,
  });
  return {
    services: decisions.map((d): PlannedService => {
      const after = d.action === 'remove' ? undefined : (d.next ?? d.current?.value);
      const preview = previews.get(d.id);
      return {
        name: d.name,
        id: d.action === 'create' ? '' : d.id,
        action: ACTIONS[d.action],
        tasks: TASKS[d.tasks],
        changes:
          d.action === 'update' ? readableVersions(diffSpecs(d.current?.value.spec, d.next?.spec), versionNames) : [],
        specVersionBefore: d.current?.value.specVersion ?? 0n,
        specVersionAfter: after?.specVersion ?? 0n,
        replicasBefore: d.current ? replicasOf(d.current.value) : undefined,
        replicasAfter: after ? replicasOf(after) : undefined,
        placed: preview?.placed ?? [],
        pending: preview?.pending ?? [],
      };
    }),
    fileObjects: objects.decisions.map((d) => plannedFileObject(d, objects.stack)),
  };
}

const FILE_ACTIONS: Record<FileObjectDecision['action'], PlannedFileObject_Action> = {
  first: PlannedFileObject_Action.ACTION_CREATE,
  same: PlannedFileObject_Action.ACTION_UNCHANGED,
  changed: PlannedFileObject_Action.ACTION_NEW_VERSION,
  external: PlannedFileObject_Action.ACTION_EXTERNAL,
};

function plannedFileObject(d: FileObjectDecision, stack: StackSpec): PlannedFileObject {
  const users = stack.services.filter((s) =>
    [...(s.container?.secrets ?? []), ...(s.container?.configs ?? [])].some((r) => r.objectId === d.version.id),
  );
  return {
    kind: d.kind,
    name: d.name,
    action: FILE_ACTIONS[d.action],
    versionBefore: d.previous?.version ?? 0n,
    versionAfter: d.version.version,
    services: users.map((s) => s.annotations?.name ?? ''),
  };
}

/** A reference's version shown by name and number (`shop_db version 3`), not by its ID. */
function readableVersions(changes: FieldChange[], names: ReadonlyMap<string, string>): FieldChange[] {
  return changes.map((c) => {
    if (!c.path.endsWith('.object_id')) return c;
    const name = (v: string | undefined) => (v === undefined ? undefined : (names.get(v) ?? v));
    const before = name(c.before);
    const after = name(c.after);
    return { path: c.path, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) };
  });
}

/** A replicated service's replica count; undefined for a global service. */
function replicasOf(service: Service): bigint | undefined {
  return isGlobalMode(service.spec?.mode) ? undefined : (service.spec?.replicas ?? 0n);
}
