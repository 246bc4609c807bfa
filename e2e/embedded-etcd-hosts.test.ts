import {
  type ClusterManager,
  httpGet,
  underLoad as load,
  type NetnsCluster,
  type RuntimeSample,
  sampled,
  startNetnsCluster,
} from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';
import { deployWeb, expectNeverTwice, live, readyNodeCount, serviceTasks } from './service-tasks.js';

// Three namespace hosts, each with a node and a manager, and no etcd but the managers' own members (one per
// host). The leader's host dies as in a power cut (link cut, every process killed, its etcd member with it): the
// two members left keep a quorum, another manager leads, the service keeps answering, and no slot runs twice.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const seenTasks = new Set<string>();

const tasks = (via?: ClusterManager) => serviceTasks(cluster, 'app_web', seenTasks, via);

async function leader(among: readonly ClusterManager[]): Promise<ClusterManager> {
  let found: ClusterManager | undefined;
  await expect
    .poll(
      async () => {
        const leading = (
          await Promise.all(among.map(async (m) => ((await m.health())?.leader ? m : undefined)))
        ).filter((m) => m !== undefined);
        found = leading[0];
        return leading.length;
      },
      { timeout: 30_000, interval: 200 },
    )
    .toBe(1);
  return found as ClusterManager;
}

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startNetnsCluster({
    bin,
    cwd: root,
    hosts: 3,
    managers: 3,
    embeddedEtcd: true,
    managersOnHosts: true,
    agentArgs: ['--dns-upstream', 'none'],
  });
  await deployWeb(cluster, ['ports: ["8080:80"]', 'deploy:', '  replicas: 3']);
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.close();
  expect(clusterLeftovers(cluster, seenTasks)).toEqual({ netns: [], bridge: false });
});

describe.skipIf(!isRoot)('three managers with their own etcd members on three hosts', () => {
  it("the leader's host is killed: another manager leads, the tasks left run on, no slot runs twice", async () => {
    expect(cluster.etcd).toBeUndefined();
    const old = await leader(cluster.managers);
    const index = cluster.managers.indexOf(old);
    const host = cluster.nodes[index];
    if (!host) throw new Error(`no node on the leader's host ${index}`);
    const survivors = cluster.managers.filter((m) => m !== old);
    const others = cluster.nodes.filter((n) => n !== host).map((n) => n.host.address);
    // Answering on every host before the fault.
    const body = (address: string) =>
      httpGet(`http://${address}:8080/`, true).then(
        (r) => r.body,
        (e: Error) => e.message,
      );
    await expect
      .poll(async () => (await Promise.all(cluster.hosts.hosts.map((h) => body(h.address)))).join(','), {
        timeout: 20_000,
      })
      .toBe('up,up,up');
    // The tasks on the hosts left run on through the fault: the same ones, not stopped and replaced.
    const kept = (await tasks()).filter((t) => live(t) && t.nodeId !== host.nodeId).map((t) => t.id);
    expect(kept).toHaveLength(2);
    let next: ClusterManager | undefined;
    const { result, samples } = await sampled(cluster, () =>
      load(others, 8080, async () => {
        await Promise.all([host.kill(), old.kill()]);
        next = await leader(survivors);
        // The dead host's task is replaced on the two left: three running again, one per slot.
        const healthz = (m: ClusterManager) =>
          fetch(`http://${m.http}/healthz`).then(
            (r) => r.text(),
            (err: Error) => err.message,
          );
        const diagnose = async () =>
          `nodes: ${(await cluster.cli(['node', 'ls', '--format', 'json'], next)).output}\n` +
          `health: ${(await Promise.all(survivors.map(healthz))).join(' | ')}\n` +
          [...survivors.map((m) => m.daemon.output()), ...cluster.nodes.map((n) => n.agent.output())]
            .map((o) => o.slice(-4000))
            .join('\n----\n');
        await expect
          .poll(
            async () => {
              const now = (await tasks(next)).filter((t) => live(t) && t.nodeId !== host.nodeId);
              return now.length === 3 && new Set(now.map((t) => t.slot)).size === 3;
            },
            { timeout: 60_000, interval: 500 },
          )
          .toBe(true)
          .catch(async (err: Error) => {
            throw new Error(`${err.message}\n${await diagnose()}`);
          });
      }),
    );
    expect(survivors).toContain(next);
    await expect.poll(() => readyNodeCount(cluster, next), { timeout: 30_000 }).toBe(2);
    // The service on the hosts left: it answered before the fault and answers after it. Meanwhile (measured while
    // this test was written) their published ports did not answer until the dead host's task was replaced, about
    // 15 s: a host lost with its tasks is a matter of the routing mesh, not of etcd; the numbers are in the message.
    const summary = `${result.requests} requests, ${result.failed.length} failed:\n${result.failed.slice(0, 20).join('\n')}`;
    expect(result.requests - result.failed.length, summary).toBeGreaterThan(0);
    for (const address of others) expect((await httpGet(`http://${address}:8080/`, true)).body).toContain('up');
    const after = (await tasks(next)).filter(live).map((t) => t.id);
    for (const id of kept) expect(after).toContain(id);
    expectNeverTwice(cluster, samples as RuntimeSample[], await tasks(next));
    // It takes orders: a scale goes through the new leader.
    const scaled = await cluster.cli(['service', 'scale', 'app_web=4'], next);
    expect(scaled.code, scaled.output).toBe(0);
  });
});
