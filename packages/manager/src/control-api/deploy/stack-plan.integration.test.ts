import {
  NodeStatus_State,
  type PlannedService,
  PlannedService_Action,
  PlannedService_Tasks,
  type PlanStackResponse,
  ServiceChange_Action,
  TaskState,
} from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../test/test-cluster.js';

// PlanStack against a real manager and etcd, with hollow nodes: the plan must match what a deploy then does, and
// writing nothing means etcd's revision does not move.
let cluster: TestCluster;
let hollow: HollowNodes;

const FIRST = `
services:
  front:
    image: nginx:1.25
    deploy:
      replicas: 2
  worker:
    image: busybox
    command: [sleep, infinity]
    deploy:
      replicas: 2
  old:
    image: redis
`;

// front: new image (replaced); worker: 2 → 3 (scaled); old: gone (pruned); api: new, 4 replicas of 5 GiB that
// only the two zone-a nodes (8 GiB each) may take; mon: new global service on zone b.
const NEXT = `
services:
  front:
    image: nginx:1.27
    environment:
      MODE: prod
    deploy:
      replicas: 2
  worker:
    image: busybox
    command: [sleep, infinity]
    deploy:
      replicas: 3
  api:
    image: api:2
    deploy:
      replicas: 4
      placement:
        constraints: [engine.labels.zone==a]
      resources:
        reservations:
          memory: 5G
  mon:
    image: monitor
    deploy:
      mode: global
      placement:
        constraints: [engine.labels.zone==b]
`;

const stackOf = (yaml: string) => toStackSpec(loadStackText(yaml).stack, 'shop');

beforeAll(async () => {
  cluster = await startTestCluster('plan');
  hollow = await HollowNodes.start({
    manager: cluster.manager.address,
    token: cluster.manager.identity.tokens.worker,
    count: 3,
    hostname: (i) => `plan-${i}`,
    engineLabels: (i) => ({ zone: i < 2 ? 'a' : 'b' }),
  });
  const ready = async () =>
    (await cluster.manager.store.list('nodes')).items.filter(
      (n) => n.value.status?.state === NodeStatus_State.STATE_READY,
    ).length;
  await until(async () => (await ready()) === 3, 'hollow nodes ready');
  await cluster.rpc(cluster.control.deployStack, { stack: stackOf(FIRST), prune: false });
  const running = async () =>
    (await cluster.manager.store.list('tasks')).items.filter(
      (t) => t.value.status?.state === TaskState.TASK_STATE_RUNNING,
    ).length;
  await until(async () => (await running()) === 5, 'first deploy running');
});

async function until(done: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  hollow?.stop();
  await cluster?.stop();
});

/** The store's services and tasks with their versions, and etcd's revision, read when nothing else moves. */
async function state() {
  const [services, tasks] = await Promise.all([
    cluster.manager.store.list('services'),
    cluster.manager.store.list('tasks'),
  ]);
  return { revision: tasks.revision, services: services.items, tasks: tasks.items };
}

/** Waits until etcd's revision holds still for a while: the loops have settled. */
async function settled() {
  let last = (await state()).revision;
  for (let still = 0; still < 5; ) {
    await new Promise((r) => setTimeout(r, 100));
    const now = (await state()).revision;
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

function byName(plan: PlanStackResponse): Record<string, PlannedService> {
  return Object.fromEntries(plan.services.map((s) => [s.name, s]));
}

describe('PlanStack', () => {
  it('plans creates, a replacing update, a scale-up and a prune, placement included, writing nothing', async () => {
    await settled();
    const before = await state();
    const plan = await cluster.rpc(cluster.control.planStack, { stack: stackOf(NEXT), prune: true });
    const after = await state();
    expect(after.revision).toBe(before.revision);
    expect(after.services).toEqual(before.services);
    expect(after.tasks).toEqual(before.tasks);

    expect(plan.services.map((s) => [s.name, PlannedService_Action[s.action]])).toEqual([
      ['shop_front', 'ACTION_UPDATE'],
      ['shop_worker', 'ACTION_UPDATE'],
      ['shop_api', 'ACTION_CREATE'],
      ['shop_mon', 'ACTION_CREATE'],
      ['shop_old', 'ACTION_REMOVE'],
    ]);
    const s = byName(plan);

    expect(s.shop_front).toMatchObject({
      tasks: PlannedService_Tasks.TASKS_REPLACED,
      specVersionBefore: 1n,
      specVersionAfter: 2n,
      replicasBefore: 2n,
      replicasAfter: 2n,
      placed: [],
      pending: [],
    });
    expect(s.shop_front?.changes).toEqual([
      { path: 'container.image', before: 'nginx:1.25', after: 'nginx:1.27' },
      { path: 'container.env[MODE]', after: 'prod' },
    ]);

    expect(s.shop_worker).toMatchObject({
      tasks: PlannedService_Tasks.TASKS_SCALED,
      specVersionBefore: 1n,
      specVersionAfter: 1n,
      replicasBefore: 2n,
      replicasAfter: 3n,
      changes: [{ path: 'replicas', before: '2', after: '3' }],
      pending: [],
    });
    expect(s.shop_worker?.placed.reduce((n, p) => n + p.tasks, 0)).toBe(1);

    // Two fit (one per zone-a node); two stay pending, and the scheduler says why.
    const api = s.shop_api as PlannedService;
    expect(api).toMatchObject({ id: '', specVersionBefore: 0n, specVersionAfter: 1n, replicasAfter: 4n });
    expect(api.placed.map((p) => [p.hostname, p.tasks]).sort()).toEqual([
      ['plan-0', 1],
      ['plan-1', 1],
    ]);
    expect(api.pending).toHaveLength(1);
    expect(api.pending[0]?.tasks).toBe(2);
    expect(api.pending[0]?.reason).toMatch(/^no suitable node \(.*insufficient memory on 2 nodes/);
    expect(api.pending[0]?.reason).toMatch(/constraint engine\.labels\.zone==a on 1 node/);

    expect(s.shop_mon?.placed.map((p) => [p.hostname, p.tasks])).toEqual([['plan-2', 1]]);
    expect(s.shop_mon?.replicasAfter).toBeUndefined();
    expect(s.shop_old).toMatchObject({ tasks: PlannedService_Tasks.TASKS_NONE, specVersionAfter: 0n });

    // Without prune, the service the files no longer declare is left alone, as a deploy would.
    const kept = await cluster.rpc(cluster.control.planStack, { stack: stackOf(NEXT), prune: false });
    expect(kept.services.map((x) => x.name)).not.toContain('shop_old');
  });

  it('plans what the deploy then does', async () => {
    const plan = await cluster.rpc(cluster.control.planStack, { stack: stackOf(NEXT), prune: true });
    const { changes } = await cluster.rpc(cluster.control.deployStack, { stack: stackOf(NEXT), prune: true });
    const same: Record<number, ServiceChange_Action> = {
      [PlannedService_Action.ACTION_CREATE]: ServiceChange_Action.ACTION_CREATED,
      [PlannedService_Action.ACTION_UPDATE]: ServiceChange_Action.ACTION_UPDATED,
      [PlannedService_Action.ACTION_UNCHANGED]: ServiceChange_Action.ACTION_UNCHANGED,
      [PlannedService_Action.ACTION_REMOVE]: ServiceChange_Action.ACTION_REMOVED,
    };
    expect(changes.map((c) => [c.name, c.action])).toEqual(plan.services.map((p) => [p.name, same[p.action]]));
    const planned = byName(plan);
    for (const change of changes) {
      const p = planned[change.name] as PlannedService;
      if (p.id) expect(change.id).toBe(p.id);
      const stored = (await cluster.manager.store.list('services')).items.find((x) => x.id === change.id);
      expect(stored?.value.specVersion ?? 0n).toBe(p.specVersionAfter);
    }
    // Deployed, the same files plan as unchanged.
    const again = await cluster.rpc(cluster.control.planStack, { stack: stackOf(NEXT), prune: true });
    expect(again.services.every((x) => x.action === PlannedService_Action.ACTION_UNCHANGED)).toBe(true);
  });
});
