import { type ControlServiceClient, NodeStatus_State, type ServiceChange, type Task, TaskState } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyHollowNodes, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// The control loops end to end on hollow nodes: a real etcd, a real manager and its gRPC sessions; only the
// container runtime is simulated.
let cluster: TestCluster;
let manager: RunningManager;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
const groups: HollowNodes[] = [];

beforeAll(async () => {
  cluster = await startTestCluster('orch');
  ({ manager, control, rpc } = cluster);
  await hollow(3, { zone: (i) => (i === 0 ? 'b' : 'a') }, 'base');
});

afterAll(async () => {
  for (const g of groups) g.stop();
  await cluster?.stop();
});

async function hollow(
  count: number,
  labels: { zone: (i: number) => string },
  name: string,
  extra: { failureRate?: number } = {},
): Promise<HollowNodes> {
  const group = await readyHollowNodes(manager, count, name, {
    engineLabels: (i) => ({ zone: labels.zone(i), group: name }),
    ...extra,
  });
  groups.push(group);
  return group;
}

async function deploy(name: string, yaml: string): Promise<ServiceChange[]> {
  const stack = toStackSpec(loadStackText(yaml).stack, name);
  return (await rpc(control.deployStack, { stack, prune: true })).changes;
}

async function tasks(service: string): Promise<Task[]> {
  return (await rpc(control.listTasks, { service, stack: '', node: '' })).tasks;
}

async function nodes() {
  return (await manager.store.list('nodes')).items.map((n) => n.value);
}

const live = (ts: Task[]) => ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING);
const running = (ts: Task[]) => live(ts).filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
const nodeIdsOf = (g: HollowNodes) => g.nodes.map((n) => n.credentials.nodeId);

/** Fails if any slot of the service has two tasks meant to run, or two running. */
function assertOneTaskPerSlot(ts: Task[]): void {
  const bySlot = new Map<string, number>();
  for (const t of running(ts)) {
    const key = t.slot === 0n ? t.nodeId : String(t.slot);
    bySlot.set(key, (bySlot.get(key) ?? 0) + 1);
  }
  expect([...bySlot.values()].every((n) => n === 1)).toBe(true);
}

describe('orchestration on hollow nodes', () => {
  it('spreads 3 replicas over 3 nodes, one each, and reports them running', async () => {
    const changes = await deploy('app', 'services:\n  web:\n    image: nginx\n    deploy:\n      replicas: 3\n');
    expect(changes.map((c) => c.name)).toEqual(['app_web']);
    await expect.poll(async () => running(await tasks('app_web')).length, { timeout: 10_000 }).toBe(3);
    const placed = running(await tasks('app_web')).map((t) => t.nodeId);
    expect(new Set(placed).size).toBe(3);
    const listed = (await rpc(control.listServices, { stack: 'app' })).services[0];
    expect([listed?.running, listed?.desired]).toEqual([3n, 3n]);
  });

  it('honours constraints, and explains a task that fits nowhere until a fitting node joins', async () => {
    await deploy(
      'app',
      [
        'services:',
        '  web:',
        '    image: nginx',
        '    deploy:',
        '      replicas: 3',
        '  onb:',
        '    image: redis',
        '    deploy:',
        '      replicas: 2',
        '      placement:',
        '        constraints: [engine.labels.zone==b]',
        '  onc:',
        '    image: redis',
        '    deploy:',
        '      placement:',
        '        constraints: [engine.labels.zone==c]',
        '',
      ].join('\n'),
    );
    await expect.poll(async () => running(await tasks('app_onb')).length, { timeout: 10_000 }).toBe(2);
    const zoneB = nodeIdsOf(groups[0] as HollowNodes)[0];
    expect(running(await tasks('app_onb')).every((t) => t.nodeId === zoneB)).toBe(true);
    await expect
      .poll(async () => (await tasks('app_onc'))[0]?.status?.message ?? '', { timeout: 10_000 })
      .toMatch(/^no suitable node \(.*constraint engine\.labels\.zone==c on 3 nodes/);
    expect((await tasks('app_onc'))[0]?.status?.state).toBe(TaskState.TASK_STATE_PENDING);
    const c = await hollow(1, { zone: () => 'c' }, 'zonec');
    await expect
      .poll(async () => running(await tasks('app_onc')).map((t) => t.nodeId), { timeout: 10_000 })
      .toEqual(nodeIdsOf(c));
  });

  it('a global service runs once on every node and follows a node that joins', async () => {
    await deploy('mon', 'services:\n  agent:\n    image: busybox\n    deploy:\n      mode: global\n');
    const all = async () => (await nodes()).filter((n) => n.status?.state === NodeStatus_State.STATE_READY).length;
    await expect.poll(async () => running(await tasks('mon_agent')).length, { timeout: 10_000 }).toBe(await all());
    await hollow(1, { zone: () => 'd' }, 'late');
    await expect.poll(async () => running(await tasks('mon_agent')).length, { timeout: 10_000 }).toBe(await all());
    assertOneTaskPerSlot(await tasks('mon_agent'));
  });

  it('a node that dies has its tasks replaced within a second of being marked down; when it returns nothing runs twice', async () => {
    const base = groups[0] as HollowNodes;
    const victim = base.nodes[1];
    const victimId = victim?.credentials.nodeId as string;
    const before = running(await tasks('app_web'));
    const onVictim = before.filter((t) => t.nodeId === victimId);
    expect(onVictim.length).toBeGreaterThan(0);
    victim?.session.stop();
    await expect
      .poll(async () => (await nodes()).find((n) => n.id === victimId)?.status?.state, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe(NodeStatus_State.STATE_DOWN);
    const downAt = Date.now();
    await expect
      .poll(async () => running(await tasks('app_web')).filter((t) => t.nodeId !== victimId).length, {
        timeout: 5_000,
        interval: 50,
      })
      .toBe(3);
    const replacedMs = Date.now() - downAt;
    expect(replacedMs).toBeLessThan(1_000);
    const old = (await tasks('app_web')).filter((t) => onVictim.some((o) => o.id === t.id));
    expect(
      old.every(
        (t) => t.desiredState === TaskState.TASK_STATE_SHUTDOWN && t.status?.state === TaskState.TASK_STATE_ORPHANED,
      ),
    ).toBe(true);
    victim?.session.start();
    await expect
      .poll(async () => (await nodes()).find((n) => n.id === victimId)?.status?.state, { timeout: 10_000 })
      .toBe(NodeStatus_State.STATE_READY);
    await new Promise((r) => setTimeout(r, 1_500));
    const after = await tasks('app_web');
    assertOneTaskPerSlot(after);
    expect(live(after)).toHaveLength(3);
  });

  it('a partitioned node stops its own tasks before they are replaced elsewhere: no slot ever runs twice', async () => {
    const base = groups[0] as HollowNodes;
    const victim = base.nodes[2];
    const victimId = victim?.credentials.nodeId as string;
    await expect.poll(async () => running(await tasks('app_web')).length, { timeout: 10_000 }).toBe(3);
    expect(running(await tasks('app_web')).some((t) => t.nodeId === victimId)).toBe(true);
    // Sample what every fake runtime runs, throughout: a slot running on two nodes at once is the failure.
    let doubled = '';
    const sampler = setInterval(() => {
      const seen = new Map<string, number>();
      for (const { node, task } of groups.flatMap((g) => g.runningTasks())) {
        const key = `${task.serviceId}/${task.slot === 0n ? task.nodeId : task.slot}`;
        if (seen.has(key) && seen.get(key) !== node) doubled ||= key;
        seen.set(key, node);
      }
    }, 20);
    try {
      victim?.session.suspend();
      await expect.poll(() => victim?.session.fenced, { timeout: 5_000, interval: 20 }).toBe(true);
      expect(victim?.running.size).toBe(0);
      await expect
        .poll(async () => (await nodes()).find((n) => n.id === victimId)?.status?.state, { timeout: 10_000 })
        .toBe(NodeStatus_State.STATE_DOWN);
      await expect
        .poll(async () => running(await tasks('app_web')).filter((t) => t.nodeId !== victimId).length, {
          timeout: 5_000,
        })
        .toBe(3);
      victim?.session.resume();
      await expect
        .poll(async () => (await nodes()).find((n) => n.id === victimId)?.status?.state, { timeout: 10_000 })
        .toBe(NodeStatus_State.STATE_READY);
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      clearInterval(sampler);
    }
    expect(doubled).toBe('');
    expect(live(await tasks('app_web'))).toHaveLength(3);
  });

  it('scaling down removes the highest slots; drain empties a node', async () => {
    await rpc(control.scaleService, { service: 'app_web', replicas: 2n });
    await expect
      .poll(
        async () =>
          live(await tasks('app_web'))
            .map((t) => t.slot)
            .sort(),
        { timeout: 10_000 },
      )
      .toEqual([1n, 2n]);
    await rpc(control.scaleService, { service: 'app_web', replicas: 6n });
    await expect.poll(async () => running(await tasks('app_web')).length, { timeout: 10_000 }).toBe(6);
    const target = running(await tasks('app_web'))[0]?.nodeId as string;
    await rpc(control.updateNode, { node: target, availability: 3, labelAdd: {}, labelRm: [] });
    await expect
      .poll(async () => running(await tasks('app_web')).filter((t) => t.nodeId === target).length, { timeout: 15_000 })
      .toBe(0);
    await expect.poll(async () => running(await tasks('app_web')).length, { timeout: 10_000 }).toBe(6);
    await rpc(control.updateNode, { node: target, availability: 1, labelAdd: {}, labelRm: [] });
  });

  it('restarts a failing task up to max_attempts, then gives up', async () => {
    await hollow(1, { zone: () => 'bad' }, 'broken', { failureRate: 1 });
    await deploy(
      'crash',
      [
        'services:',
        '  loop:',
        '    image: busybox',
        '    deploy:',
        '      placement:',
        '        constraints: [engine.labels.zone==bad]',
        '      restart_policy:',
        '        condition: on-failure',
        '        delay: 0s',
        '        max_attempts: 2',
        '',
      ].join('\n'),
    );
    await expect
      .poll(
        async () => (await tasks('crash_loop')).filter((t) => t.status?.state === TaskState.TASK_STATE_FAILED).length,
        { timeout: 15_000 },
      )
      .toBe(3);
    await new Promise((r) => setTimeout(r, 1_500));
    const all = await tasks('crash_loop');
    expect(all).toHaveLength(3);
    expect(all.every((t) => t.status?.state === TaskState.TASK_STATE_FAILED)).toBe(true);
  });

  it('rebalances when a node joins, and on request after a drain, moving one task at a time', async () => {
    await deploy(
      'bal',
      [
        'services:',
        '  api:',
        '    image: nginx',
        '    deploy:',
        '      replicas: 10',
        '      placement:',
        '        constraints: [engine.labels.group!=broken]',
        '',
      ].join('\n'),
    );
    await expect.poll(async () => running(await tasks('bal_api')).length, { timeout: 10_000 }).toBe(10);
    const spread = async () => {
      const eligible = (await nodes()).filter(
        (n) => n.status?.state === NodeStatus_State.STATE_READY && n.description?.engineLabels.group !== 'broken',
      );
      const current = running(await tasks('bal_api'));
      const counts = eligible.map((n) => current.filter((t) => t.nodeId === n.id).length);
      return Math.max(...counts) - Math.min(...counts);
    };
    const fresh = await hollow(1, { zone: () => 'e' }, 'fresh');
    const freshId = nodeIdsOf(fresh)[0];
    await expect.poll(spread, { timeout: 20_000, interval: 200 }).toBeLessThanOrEqual(1);
    expect(running(await tasks('bal_api')).filter((t) => t.nodeId === freshId).length).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => live(await tasks('bal_api')).length, { timeout: 10_000 }).toBe(10);
    assertOneTaskPerSlot(await tasks('bal_api'));

    // Drain the fresh node, make it active again: nothing moves back by itself; a rebalance request does it.
    await rpc(control.updateNode, { node: freshId as string, availability: 3, labelAdd: {}, labelRm: [] });
    await expect
      .poll(async () => running(await tasks('bal_api')).filter((t) => t.nodeId === freshId).length, { timeout: 15_000 })
      .toBe(0);
    // Every replacement placed and running elsewhere before the node comes back (else one would land on it).
    await expect.poll(async () => running(await tasks('bal_api')).length, { timeout: 10_000 }).toBe(10);
    await expect.poll(async () => live(await tasks('bal_api')).length, { timeout: 10_000 }).toBe(10);
    // The join's rebalancing ends at the next round that finds the service balanced (within the 1 s debounce
    // cap): only then is the node made active again, so what follows is not that same episode.
    await new Promise((r) => setTimeout(r, 1_500));
    await rpc(control.updateNode, { node: freshId as string, availability: 1, labelAdd: {}, labelRm: [] });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(running(await tasks('bal_api')).filter((t) => t.nodeId === freshId)).toHaveLength(0);
    await rpc(control.rebalanceService, { service: 'bal_api' });
    await expect.poll(spread, { timeout: 20_000, interval: 200 }).toBeLessThanOrEqual(1);
    expect(running(await tasks('bal_api')).filter((t) => t.nodeId === freshId).length).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => live(await tasks('bal_api')).length, { timeout: 10_000 }).toBe(10);
  });

  it('removing a stack stops and deletes its tasks', async () => {
    await rpc(control.removeStack, { name: 'crash' });
    await expect
      .poll(
        async () =>
          (await manager.store.list('tasks')).items.filter((t) => t.value.serviceName === 'crash_loop').length,
        { timeout: 10_000 },
      )
      .toBe(0);
  });
});
