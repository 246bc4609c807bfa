import { type ControlServiceClient, type Task, TaskState } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyHollowNodes, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// Sidecars through the real control loops on hollow nodes (a real etcd and manager; only the runtime is
// simulated): placement beside the main task, pending with a reason where the main's node does not fit, moves
// with the main task, refused scaling.
let cluster: TestCluster;
let manager: RunningManager;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
const groups: HollowNodes[] = [];

beforeAll(async () => {
  cluster = await startTestCluster('sidecar');
  ({ manager, control, rpc } = cluster);
  groups.push(
    await readyHollowNodes(manager, 3, 'base', { engineLabels: (i) => ({ zone: i === 0 ? 'b' : 'a', group: 'base' }) }),
  );
});

afterAll(async () => {
  for (const g of groups) g.stop();
  await cluster?.stop();
});

async function deploy(yaml: string): Promise<void> {
  await rpc(control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, 'pod'), prune: true });
}
const tasks = async (service: string): Promise<Task[]> =>
  (await rpc(control.listTasks, { service, stack: '', node: '' })).tasks;
const live = (ts: Task[]) => ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING);
const running = (ts: Task[]) => live(ts).filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);

/** Every running main task has exactly one live sidecar, bound to it, on its node, in its slot. */
async function pairedOnSameNodes(): Promise<boolean> {
  const [web, side] = [running(await tasks('pod_web')), live(await tasks('pod_side'))];
  return (
    web.length === 3 &&
    side.length === 3 &&
    web.every((w) => {
      const beside = side.filter((s) => s.mainTaskId === w.id);
      return beside.length === 1 && beside[0]?.nodeId === w.nodeId && beside[0]?.slot === w.slot;
    })
  );
}

const STACK = (sideConstraint: string) =>
  [
    'services:',
    '  web:',
    '    image: nginx',
    '    deploy: {replicas: 3}',
    '  side:',
    '    image: busybox',
    '    network_mode: "service:web"',
    ...(sideConstraint ? ['    deploy:', '      placement:', `        constraints: [${sideConstraint}]`] : []),
    '',
  ].join('\n');

describe('sidecars on hollow nodes', () => {
  it('runs one sidecar task beside each main task, on its node, and none on another node', async () => {
    await deploy(STACK(''));
    await expect.poll(pairedOnSameNodes, { timeout: 15_000 }).toBe(true);
  });

  it("keeps a sidecar pending, and says why, where its main task's node does not meet its constraints", async () => {
    await deploy(STACK('engine.labels.zone==a'));
    const zoneB = groups[0]?.nodes[0]?.credentials.nodeId as string;
    await expect
      .poll(async () => live(await tasks('pod_side')).find((t) => t.nodeId === zoneB)?.status?.message ?? '', {
        timeout: 15_000,
      })
      .toMatch(
        /^no suitable node \(node \S+ of its main task \S+: .*zone==a.*a sidecar runs only beside its main task/,
      );
    // The other two run beside their main tasks; no sidecar was placed anywhere else instead.
    await expect.poll(async () => running(await tasks('pod_side')).length, { timeout: 15_000 }).toBe(2);
    const side = live(await tasks('pod_side'));
    expect(side.find((t) => t.nodeId === zoneB)?.status?.state).toBe(TaskState.TASK_STATE_PENDING);
    expect(side.filter((t) => t.nodeId === zoneB)).toHaveLength(1);
    expect(running(side).every((t) => t.nodeId !== zoneB)).toBe(true);
  });

  it('moves a sidecar with its main task when the main task leaves a drained node', async () => {
    await deploy(STACK(''));
    await expect.poll(pairedOnSameNodes, { timeout: 15_000 }).toBe(true);
    const target = running(await tasks('pod_web'))[0] as Task;
    const oldSide = live(await tasks('pod_side')).find((s) => s.mainTaskId === target.id) as Task;
    await rpc(control.updateNode, { node: target.nodeId, availability: 3, labelAdd: {}, labelRm: [] });
    try {
      await expect
        .poll(
          async () => (await pairedOnSameNodes()) && !running(await tasks('pod_web')).some((w) => w.id === target.id),
          {
            timeout: 20_000,
          },
        )
        .toBe(true);
      const gone = (await tasks('pod_side')).find((t) => t.id === oldSide.id);
      expect(gone?.desiredState).toBeGreaterThan(TaskState.TASK_STATE_RUNNING);
      expect(running(await tasks('pod_side')).some((t) => t.nodeId === target.nodeId)).toBe(false);
    } finally {
      await rpc(control.updateNode, { node: target.nodeId, availability: 1, labelAdd: {}, labelRm: [] });
    }
  });

  it('follows its main service when that is scaled', async () => {
    await rpc(control.scaleService, { service: 'pod_web', replicas: 4n });
    await expect.poll(async () => running(await tasks('pod_side')).length, { timeout: 15_000 }).toBe(4);
    const listed = (await rpc(control.listServices, { stack: 'pod' })).services;
    const side = listed.find((s) => s.service?.spec?.annotations?.name === 'pod_side');
    expect([side?.running, side?.desired]).toEqual([4n, 4n]);
    await rpc(control.scaleService, { service: 'pod_web', replicas: 3n });
    await expect.poll(pairedOnSameNodes, { timeout: 15_000 }).toBe(true);
  });

  it('refuses to scale a sidecar: it follows its main service', async () => {
    await expect(rpc(control.scaleService, { service: 'pod_side', replicas: 5n })).rejects.toMatchObject({
      message: expect.stringMatching(/pod_side is a sidecar of pod_web.*scale pod_web instead/),
    });
  });
});
