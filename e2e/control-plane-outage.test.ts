import { gapsIn, type NetnsCluster, sampled, underLoad } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeCluster,
  expectNeverTwice,
  live,
  readyNodeCount,
  serviceTasks,
  startWebCluster,
} from './service-tasks.js';

// Three namespace hosts and the only manager, with Flotilla's default timings (1 s heartbeats, 2 s self-fence
// timeout). The control plane goes away for a minute — paused, then killed — and comes back: no task stops, no
// request through the published port fails, and no slot ever runs twice, sampled in the runtimes themselves
// (the control API cannot be asked while the manager is away).
const isRoot = process.getuid?.() === 0;
const OUTAGE_MS = 60_000;

let cluster: NetnsCluster;
const seenTasks = new Set<string>();

const tasks = () => serviceTasks(cluster, 'app_web', seenTasks);
const running = async () => (await tasks()).filter(live);

/** The outage under load and sampling; what ran before must run after, the same task IDs, each slot once. */
async function survives(outage: () => Promise<void>): Promise<void> {
  await expect.poll(async () => (await running()).length, { timeout: 60_000, interval: 500 }).toBe(3);
  const before = (await running()).map((t) => t.id).sort();
  const addresses = cluster.hosts.hosts.map((h) => h.address);
  const { result, samples } = await sampled(cluster, () =>
    underLoad(addresses, 8080, async () => {
      await outage();
      await expect.poll(() => readyNodeCount(cluster), { timeout: 60_000, interval: 500 }).toBe(3);
    }),
  );
  expect(result.requests).toBeGreaterThan(500);
  expect(result.failed).toEqual([]);
  // Every sample of the runtimes showed the three containers, and never two for one slot.
  expect(samples.length).toBeGreaterThan(OUTAGE_MS / 1_500);
  expect(gapsIn(samples, before)).toEqual([]);
  expectNeverTwice(cluster, samples, await tasks());
  // The same tasks run on: none was stopped, none replaced.
  await new Promise((r) => setTimeout(r, 3_000));
  expect((await running()).map((t) => t.id).sort()).toEqual(before);
}

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startWebCluster({ hosts: 3 }, [
    'ports: ["8080:80"]',
    'deploy:',
    '  replicas: 3',
    '  placement: { max_replicas_per_node: 1 }',
  ]);
}, 300_000);

afterAll(async () => {
  cluster?.managers[0]?.resume();
  await closeCluster(cluster, seenTasks);
});

describe.skipIf(!isRoot)('the only manager away for a minute, on three hosts', () => {
  it('paused (SIGSTOP) for 60 s, then resumed: no task stops, no request fails, nothing runs twice', async () => {
    const manager = cluster.managers[0];
    if (!manager) throw new Error('no manager');
    await survives(async () => {
      manager.pause();
      try {
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
      } finally {
        manager.resume();
      }
    });
  });

  // A restarted manager is a new leader: the first nodes to find it are no proof that the others are cut off
  // (each counts its time cut off from when the leader was first heard, and tries the managers at once).
  it('killed, and started again after 60 s: no task stops, no request fails, nothing runs twice', async () => {
    const manager = cluster.managers[0];
    if (!manager) throw new Error('no manager');
    await survives(async () => {
      await manager.kill();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await manager.start();
    });
  });
});
