import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ClusterManager,
  gapsIn,
  httpGet,
  underLoad as load,
  type NetnsCluster,
  type RuntimeSample,
  sampled,
  startNetnsCluster,
  type TestServer,
} from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';
import { expectNeverTwice, live, readyNodeCount, serviceTasks } from './service-tasks.js';

// Three namespace hosts (each its own containerd and agent) and three managers on one etcd, with Flotilla's
// default timings. What goes wrong in the control plane — a bad release, the leader dying in the middle of a
// deploy, etcd restarting — never stops the service behind its published port, and the cluster ends where the
// operator asked.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
let stackFile = '';
const seenTasks = new Set<string>();

/** The web service: busybox httpd answering "version N", healthy unless BROKEN is set. */
function writeStack(options: { version: number; replicas: number; broken?: boolean }): void {
  writeFileSync(
    stackFile,
    [
      'services:',
      '  web:',
      `    image: ${cluster.images.busybox.tag}`,
      '    command:',
      '      - sh',
      '      - -c',
      '      - mkdir -p /www && echo "version $$VERSION" > /www/index.html && exec httpd -f -p 80 -h /www',
      '    init: true',
      '    environment:',
      `      VERSION: "${options.version}"`,
      ...(options.broken ? ['      BROKEN: "1"'] : []),
      '    ports: ["8080:80"]',
      '    healthcheck:',
      `      test: ["CMD-SHELL", '[ -z "$$BROKEN" ]']`,
      '      interval: 500ms',
      '      retries: 2',
      '    deploy:',
      `      replicas: ${options.replicas}`,
      '      update_config: { parallelism: 1, delay: 1s, monitor: 2s, failure_action: rollback, order: start-first }',
      '      rollback_config: { parallelism: 0, monitor: 1s }',
      '',
    ].join('\n'),
  );
}

const tasks = (via?: ClusterManager) => serviceTasks(cluster, 'app_web', seenTasks, via);
const running = async (via?: ClusterManager) => (await tasks(via)).filter(live);

async function inspect(
  via?: ClusterManager,
): Promise<{ specVersion: string; spec: { replicas: string }; updateStatus?: { state: string } }> {
  return JSON.parse((await cluster.cli(['service', 'inspect', '--format', 'raw', 'app_web'], via)).stdout)[0];
}

/** What every host's published port answers: the bodies, or the error. */
async function answers(): Promise<string[]> {
  return Promise.all(
    cluster.hosts.hosts.map((h) =>
      httpGet(`http://${h.address}:8080/`, true).then(
        (r) => (r.status === 200 ? r.body : `HTTP ${r.status}`),
        (err: Error) => `error: ${err.message}`,
      ),
    ),
  );
}

/** A load on every host's published port 8080 while `during` runs. */
function underLoad<T>(during: () => Promise<T>): Promise<{ result: T; requests: number; failed: string[] }> {
  return load(
    cluster.hosts.hosts.map((h) => h.address),
    8080,
    during,
  );
}

/** Every sample of the runtimes ran each of `before`, and no slot ever ran twice. */
async function ranThroughout(samples: readonly RuntimeSample[], before: readonly string[]): Promise<void> {
  expect(gapsIn(samples, before)).toEqual([]);
  expectNeverTwice(cluster, samples, await tasks());
}

/** The managers that say they lead, once exactly one does. */
async function leader(): Promise<ClusterManager> {
  let found: ClusterManager | undefined;
  await expect
    .poll(
      async () => {
        const up = cluster.managers.filter((m) => m.daemon.child.exitCode === null && !m.daemon.child.signalCode);
        const leading = (await Promise.all(up.map(async (m) => ((await m.health())?.leader ? m : undefined)))).filter(
          (m) => m !== undefined,
        );
        found = leading[0];
        return leading.length;
      },
      { timeout: 30_000, interval: 200 },
    )
    .toBe(1);
  return found as ClusterManager;
}

/** What a manager's /healthz says of etcd, with its HTTP status. */
async function storeHealth(m: ClusterManager): Promise<string> {
  const h = await m.health();
  return h ? `${h.status} ${h.store}` : 'no answer';
}

/** Running tasks of the current spec version, one per slot, each answering with `version`. */
async function settledOn(version: number, replicas: number, via?: ClusterManager): Promise<void> {
  await expect
    .poll(
      async () => {
        const now = (await running(via)).filter((t) => t.status.health === 'TASK_HEALTH_HEALTHY');
        return now.length === replicas && new Set(now.map((t) => t.slot)).size === replicas;
      },
      { timeout: 90_000, interval: 500 },
    )
    .toBe(true);
  for (const body of await answers()) expect(body).toBe(`version ${version}`);
}

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startNetnsCluster({ bin, cwd: root, hosts: 3, managers: 3, agentArgs: ['--dns-upstream', 'none'] });
  stackFile = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'app.yml');
  writeStack({ version: 1, replicas: 3 });
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stackFile, 'app']);
  if (deployed.code !== 0) throw new Error(`deploy failed:\n${deployed.output}`);
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.close();
  // Nothing of the cluster is left: no namespace (hosts' or tasks'), no link of the underlay.
  expect(clusterLeftovers(cluster, seenTasks)).toEqual({ netns: [], bridge: false });
});

describe.skipIf(!isRoot)('control-plane faults on three hosts with three managers', () => {
  it('a release whose containers turn unhealthy rolls back, `stack deploy --wait` exits non-zero, and no request fails', async () => {
    await settledOn(1, 3);
    const healthyTasks = (await running()).map((t) => t.id).sort();
    writeStack({ version: 2, replicas: 3, broken: true });
    const {
      result: deployed,
      requests,
      failed,
    } = await underLoad(async () => {
      const d = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stackFile, 'app']);
      // The deploy is judged failed as the rollback starts; the load goes on until it has ended.
      await expect
        .poll(async () => (await inspect()).updateStatus?.state, { timeout: 90_000, interval: 500 })
        .toBe('STATE_ROLLBACK_COMPLETED');
      return d;
    });
    expect(deployed.code, deployed.output).toBe(1);
    expect(deployed.output).toMatch(/app_web.*roll/is);
    expect(requests).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    await settledOn(1, 3);
    // Only the failed release's task was replaced: the healthy ones of version 1 ran throughout.
    expect((await running()).map((t) => t.id).sort()).toEqual(healthyTasks);
  });

  it('the leader is killed in the middle of a deploy: another manager takes over and the deploy completes', async () => {
    const old = await leader();
    // A new version on twice the replicas: a rolling update of three slots (one at a time, start-first, a 2 s
    // monitor each) and three new slots. The CLI talks to the leader itself: when it dies, the CLI turns to the
    // other managers its configuration lists, and `--wait` follows the deploy through them.
    writeStack({ version: 3, replicas: 6 });
    const deploy = cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stackFile, 'app'], old);
    await expect
      .poll(async () => (await inspect(old)).updateStatus?.state, { timeout: 30_000, interval: 100 })
      .toBe('STATE_UPDATING');
    await old.kill();
    // Exactly one of the two left leads.
    const next = await leader();
    const deployed = await deploy;
    expect(deployed.code, deployed.output).toBe(0);
    expect((await inspect(old)).updateStatus?.state).toBe('STATE_COMPLETED');
    await settledOn(3, 6, old);
    // No task ran twice: six running tasks, one per slot, on three ready nodes.
    expect(await running(next)).toHaveLength(6);
    expect(await readyNodeCount(cluster, next)).toBe(3);

    // The old leader comes back as a follower; the cluster still has one leader.
    await old.start();
    expect(await leader()).toBe(next);
  });

  it('etcd restarts: the service keeps answering, the same tasks run on, and the cluster takes orders again', async () => {
    await settledOn(3, 6);
    const before = (await running()).map((t) => t.id).sort();
    const { result, samples } = await sampled(cluster, () => etcdOutage());
    const { requests, failed } = result;
    expect(requests).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    // No manager crashed; the same containers run (none restarted, none doubled), in every sample of the runtimes.
    for (const m of cluster.managers) expect(m.daemon.child.exitCode, m.daemon.output()).toBeNull();
    expect(samples.length).toBeGreaterThan(5);
    await ranThroughout(samples, before);
    expect((await running()).map((t) => t.id).sort()).toEqual(before);
    expect((await inspect()).spec.replicas).toBe('6');

    // And it takes orders: a scale-down converges.
    const scaled = await cluster.cli(['service', 'scale', '--detach', 'app_web=4']);
    expect(scaled.code, scaled.output).toBe(0);
    await settledOn(3, 4);
    expect(await running()).toHaveLength(4);
  });

  it('all three managers killed for 60 s, then started again: no task stops, no request fails, nothing twice', async () => {
    await settledOn(3, 4);
    const before = (await running()).map((t) => t.id).sort();
    const { result, samples } = await sampled(cluster, () =>
      underLoad(async () => {
        // 3 nodes and 3 managers: with every manager gone, each node reaches 3 of 6 voters, half: all carry on.
        await Promise.all(cluster.managers.map((m) => m.kill()));
        await new Promise((r) => setTimeout(r, 60_000));
        await Promise.all(cluster.managers.map((m) => m.start()));
        await leader();
        await expect.poll(() => readyNodeCount(cluster), { timeout: 60_000, interval: 500 }).toBe(3);
      }),
    );
    expect(result.requests).toBeGreaterThan(500);
    expect(result.failed).toEqual([]);
    expect(samples.length).toBeGreaterThan(40);
    await ranThroughout(samples, before);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await running()).map((t) => t.id).sort()).toEqual(before);
  });
});

/** etcd stopped longer than a leader's lease, under load; what the managers say meanwhile is checked. */
function etcdOutage(): ReturnType<typeof underLoad<void>> {
  return underLoad(async () => {
    await (cluster.etcd as TestServer).stop();
    const outageEnds = Date.now() + 8_000;
    // A write while the store is away fails with an error, in time, and changes nothing.
    const refused = await cluster.cli(['service', 'scale', '--detach', 'app_web=5']);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.output).toMatch(/etcd\) is unreachable.*try again/);
    // Every manager says so on /healthz (503), within a few seconds.
    await expect
      .poll(async () => (await Promise.all(cluster.managers.map(storeHealth))).join(), { timeout: 6_000 })
      .toMatch(/^(503 not answering for \d+ s,?){3}$/);
    // Longer than a leader's lease: every manager loses touch with the store.
    await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
    await (cluster.etcd as TestServer).restart();
    await leader();
    await expect
      .poll(async () => (await Promise.all(cluster.managers.map(storeHealth))).join(), { timeout: 10_000 })
      .toBe('200 answering,200 answering,200 answering');
    await expect.poll(() => readyNodeCount(cluster), { timeout: 60_000, interval: 500 }).toBe(3);
  });
}
