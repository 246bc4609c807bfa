import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { certificateLife, readIdentity } from '@flotilla/pki';
import { gapsIn, type NetnsCluster, sampled, startNetnsCluster, underLoad } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';
import { deployWeb, expectNeverTwice, live, readyNodeCount, serviceTasks } from './service-tasks.js';

// Three namespace hosts and their manager with `cluster update --cert-expiry 1m`: every agent renews its
// certificate over its session (new key, same node) three times, and the manager its own, while HTTP load runs on
// the published port of every host. No task stops, no request fails, no node is ever marked down.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const seenTasks = new Set<string>();

const tasks = () => serviceTasks(cluster, 'app_web', seenTasks);
const running = async () => (await tasks()).filter(live);
const renewals = (output: string) => output.match(/"msg":"certificate renewed"/g)?.length ?? 0;
const serial = (stateDir: string) => new X509Certificate(readFileSync(path.join(stateDir, 'node.crt'))).serialNumber;

beforeAll(async () => {
  if (!isRoot) return;
  // At info, the daemons log each renewal.
  cluster = await startNetnsCluster({
    bin,
    cwd: root,
    hosts: 3,
    agentArgs: ['--dns-upstream', 'none'],
    logLevel: 'info',
  });
  await deployWeb(cluster, [
    'ports: ["8080:80"]',
    'deploy:',
    '  replicas: 3',
    '  placement: { max_replicas_per_node: 1 }',
  ]);
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.close();
  expect(clusterLeftovers(cluster, seenTasks)).toEqual({ netns: [], bridge: false });
});

describe.skipIf(!isRoot)('certificates with a one-minute life, on three hosts', () => {
  it('every node renews three times under load: no task stops, no request fails, no node goes down', async () => {
    await expect.poll(async () => (await running()).length, { timeout: 60_000, interval: 500 }).toBe(3);
    const before = (await running()).map((t) => t.id).sort();
    const tooShort = await cluster.cli(['cluster', 'update', '--cert-expiry', '30s']);
    expect(tooShort.code).toBe(2);
    expect((await cluster.cli(['cluster', 'update', '--cert-expiry', '1m'])).code).toBe(0);
    const addresses = cluster.hosts.hosts.map((h) => h.address);
    const readiness: number[] = [];
    // The certificates each node kept, as seen every 2 s: each renewal leaves a new one in its state directory.
    const kept = cluster.nodes.map((n) => new Set([serial(n.stateDir)]));
    const { result, samples } = await sampled(cluster, () =>
      underLoad(addresses, 8080, async () => {
        const deadline = Date.now() + 5 * 60_000;
        while (Date.now() < deadline) {
          readiness.push(await readyNodeCount(cluster));
          for (const [i, n] of cluster.nodes.entries()) kept[i]?.add(serial(n.stateDir));
          if (cluster.nodes.every((n) => renewals(n.agent.output()) >= 3)) break;
          await new Promise((r) => setTimeout(r, 2_000));
        }
      }),
    );
    for (const node of cluster.nodes) expect(renewals(node.agent.output()), node.host.name).toBeGreaterThanOrEqual(3);
    for (const certs of kept) expect(certs.size).toBeGreaterThanOrEqual(4);
    expect(renewals(cluster.manager.output())).toBeGreaterThanOrEqual(1);
    // Every node was ready at every look, and the load never failed.
    expect(readiness.length).toBeGreaterThan(30);
    expect(readiness.filter((n) => n !== 3)).toEqual([]);
    expect(result.requests).toBeGreaterThan(1_000);
    expect(result.failed).toEqual([]);
    expect(gapsIn(samples, before)).toEqual([]);
    expectNeverTwice(cluster, samples, await tasks());
    expect((await running()).map((t) => t.id).sort()).toEqual(before);
    // What each node keeps now: a one-minute certificate for the same node, and no renewal ever failed.
    for (const node of cluster.nodes) {
      expect(node.agent.output()).not.toMatch(/"msg":"certificate renewal failed/);
      const cert = new X509Certificate(readFileSync(path.join(node.stateDir, 'node.crt')));
      expect(readIdentity(cert)).toMatchObject({ nodeId: node.nodeId, role: 'worker' });
      const { notBeforeMs, notAfterMs } = certificateLife(cert);
      expect(notAfterMs - notBeforeMs).toBe(60_000);
    }
  }, 480_000);
});
