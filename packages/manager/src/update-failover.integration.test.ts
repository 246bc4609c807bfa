import { type ControlServiceClient, type Service, type Task, TaskState, UpdateStatus_State } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, readyHollowNodes, rpc, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// A rolling update survives the loss of the leader: the new leader reads the update status from the service
// and the progress from the tasks, and carries on.
let cluster: TestCluster;
let second: RunningManager | undefined;
let group: HollowNodes;

beforeAll(async () => {
  cluster = await startTestCluster('upfail', { electionTtlSeconds: 2 });
  second = await cluster.joinManager('m2');
  group = await readyHollowNodes(cluster.manager, 3, 'upfail', { startDelayMs: 30 });
});

afterAll(async () => {
  group?.stop();
  await second?.stop();
  await cluster?.stop();
});

const client = (address: string) => operatorClient(cluster.manager, address);

const yaml = (image: string) =>
  [
    'services:',
    '  web:',
    `    image: ${image}`,
    '    deploy:',
    '      replicas: 6',
    '      update_config: { parallelism: 1, monitor: 300ms }',
    '',
  ].join('\n');

const running = (ts: Task[]) =>
  ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING);

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a rolling update across a leader failover', () => {
  it('is resumed by the new leader and completes with every slot running once on the new version', async () => {
    const first = client(cluster.manager.address);
    const other = client(second!.address);
    const deploy = (c: ControlServiceClient, image: string) =>
      rpc(c, c.deployStack, { stack: toStackSpec(loadStackText(yaml(image)).stack, 'fo'), prune: false });
    const tasksOf = (c: ControlServiceClient) =>
      rpc(c, c.listTasks, { service: 'fo_web', stack: '', node: '' }).then((r) => r.tasks);
    const serviceOf = (c: ControlServiceClient) =>
      rpc(c, c.getService, { service: 'fo_web' }).then((r) => r.service as Service);
    try {
      await deploy(first, 'app:1');
      await until(
        '6 running',
        () => tasksOf(first),
        (ts) => running(ts).length === 6,
      );
      await deploy(first, 'app:2');
      // Part of the way through: two slots on the new version.
      await until(
        'two slots updated',
        () => tasksOf(first),
        (ts) => running(ts).filter((t) => t.spec?.image === 'app:2').length >= 2,
      );
      await cluster.manager.stop();
      const done = await until(
        'the update completed under the new leader',
        () => serviceOf(other),
        (s) => s.updateStatus?.state === UpdateStatus_State.STATE_COMPLETED,
      );
      expect(done.updateStatus?.specVersion).toBe(done.specVersion);
      const final = await until(
        '6 running on app:2',
        () => tasksOf(other),
        (ts) => running(ts).length === 6,
      );
      expect(final.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING).map((t) => t.spec?.image)).toEqual(
        Array(6).fill('app:2'),
      );
      expect(new Set(running(final).map((t) => t.slot)).size).toBe(6);
    } finally {
      first.close();
      other.close();
    }
  });
});
