import path from 'node:path';
import {
  type ClusterManager,
  type DaemonProcess,
  gapsIn,
  type NetnsCluster,
  sampled,
  startDaemon,
  startEtcd,
  type TestServer,
  tempDir,
  underLoad,
} from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';
import {
  closeCluster,
  expectNeverTwice,
  live,
  readyNodeCount,
  serviceTasks,
  startWebCluster,
} from './service-tasks.js';

// Three namespace hosts and their only manager. A backup is taken under load; then the manager and its etcd are
// lost for good. The backup, restored into a new etcd and a new state directory, brings up a manager where the
// old one was: the agents come back to it, and the same tasks run on in the same slots; meanwhile, nothing
// stopped, no request failed, and no slot ran twice.
const isRoot = process.getuid?.() === 0;
const PASSPHRASE = 'a passphrase kept apart from the backup';

let cluster: NetnsCluster;
let fresh: TestServer | undefined;
let restored: DaemonProcess | undefined;
const dirs = [tempDir('backup-e2e'), tempDir('backup-e2e-cli')];
const seenTasks = new Set<string>();

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startWebCluster({ hosts: 3 }, [
    'ports: ["8080:80"]',
    'deploy:',
    '  replicas: 4',
    '  placement: { max_replicas_per_node: 2 }',
  ]);
}, 300_000);

afterAll(async () => {
  await restored?.stop(5_000);
  await fresh?.destroy();
  await closeCluster(cluster, seenTasks);
  for (const d of dirs) d.remove();
});

describe.skipIf(!isRoot)('a backup restored after the control plane is lost', () => {
  it('taken under load, restored on a new etcd and state directory: the same tasks in the same slots, nothing failed', async () => {
    const old = cluster.managers[0] as ClusterManager;
    const slots = async (via?: ClusterManager) =>
      (await serviceTasks(cluster, 'app_web', seenTasks, via))
        .filter(live)
        .map((t) => `${t.id} slot ${t.slot}`)
        .sort();
    await expect.poll(async () => (await slots()).length, { timeout: 60_000, interval: 500 }).toBe(4);
    const before = await slots();
    // The admission policy set before the backup is the restored cluster's too.
    const policy = await runFlotilla(
      ['cluster', 'update', '--security-profile', 'restricted', '--allow-bind', '/srv/e2e'],
      cluster.env,
    );
    expect(policy.code, policy.output).toBe(0);
    const file = path.join(dirs[0]?.path as string, 'cluster.backup');
    const stateDir = path.join(dirs[0]?.path as string, 'state');
    const secret = { ...cluster.env, FLOTILLA_BACKUP_PASSPHRASE: PASSPHRASE };
    const restoredManager = {
      env: { ...cluster.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string },
    } as unknown as ClusterManager;

    const addresses = cluster.hosts.hosts.map((h) => h.address);
    const { result, samples } = await sampled(cluster, () =>
      underLoad(addresses, 8080, async () => {
        const backup = await runFlotilla(['cluster', 'backup', file], secret);
        expect(backup.code, backup.output).toBe(0);
        // The control plane is lost for good: the manager killed, its etcd gone with its data.
        await old.kill();
        await (cluster.etcd as TestServer).stop();
        fresh = await startEtcd();
        const restore = await runFlotilla(
          ['cluster', 'restore', file, '--state-dir', stateDir, '--etcd', fresh.url],
          secret,
        );
        expect(restore.code, restore.output).toBe(0);
        // Where the old manager was: the agents know that address and come back to it.
        restored = startDaemon(
          bin,
          ['manager', 'start', '--etcd', fresh.url, '--listen', old.address, '--state-dir', stateDir],
          { cwd: root, env: restoredManager.env },
        );
        await restored.waitFor(/listening on/, 30_000);
        await expect.poll(() => readyNodeCount(cluster, restoredManager), { timeout: 60_000, interval: 500 }).toBe(3);
      }),
    );
    expect(result.requests).toBeGreaterThan(300);
    expect(result.failed).toEqual([]);
    expect(
      gapsIn(
        samples,
        before.map((s) => s.split(' ')[0] as string),
      ),
    ).toEqual([]);
    const now = await serviceTasks(cluster, 'app_web', seenTasks, restoredManager);
    expectNeverTwice(cluster, samples, now);
    // Converged on the restored cluster: the same tasks, in the same slots, still running a while later.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await slots(restoredManager)).toEqual(before);
    const inspected = await runFlotilla(['cluster', 'inspect'], restoredManager.env);
    expect(inspected.code, inspected.output).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      securityProfile: 'restricted',
      allowedBindPrefixes: ['/srv/e2e'],
    });
  });
});
