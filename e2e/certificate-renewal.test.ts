import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { caFingerprint, certificateLife, issuedBy, readIdentity } from '@flotilla/pki';
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

// Three namespace hosts and their manager with `cluster update --cert-expiry 1m`: every agent renews its
// certificate over its session (new key, same node) three times, and the manager its own, and the cluster moves to
// a new CA (`cluster ca --rotate`) on the way, while HTTP load runs on the published port of every host. No task
// stops, no request fails, no node is ever marked down.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const seenTasks = new Set<string>();

const tasks = () => serviceTasks(cluster, 'app_web', seenTasks);
const running = async () => (await tasks()).filter(live);
const renewals = (output: string) => output.match(/"msg":"certificate renewed"/g)?.length ?? 0;
const serial = (stateDir: string) => new X509Certificate(readFileSync(path.join(stateDir, 'node.crt'))).serialNumber;
const inspect = async () => JSON.parse((await cluster.cli(['cluster', 'inspect'])).stdout);

beforeAll(async () => {
  if (!isRoot) return;
  // At info, the daemons log each renewal.
  cluster = await startWebCluster({ hosts: 3, logLevel: 'info' }, [
    'ports: ["8080:80"]',
    'deploy:',
    '  replicas: 3',
    '  placement: { max_replicas_per_node: 1 }',
  ]);
}, 300_000);

afterAll(() => closeCluster(cluster, seenTasks));

describe.skipIf(!isRoot)('certificates with a one-minute life, on three hosts', () => {
  it('every node renews three times and the CA rotates under load: no task stops, no request fails, no node goes down', async () => {
    await expect.poll(async () => (await running()).length, { timeout: 60_000, interval: 500 }).toBe(3);
    const before = (await running()).map((t) => t.id).sort();
    const tooShort = await cluster.cli(['cluster', 'update', '--cert-expiry', '30s']);
    expect(tooShort.code).toBe(2);
    expect((await cluster.cli(['cluster', 'update', '--cert-expiry', '1m'])).code).toBe(0);
    const addresses = cluster.hosts.hosts.map((h) => h.address);
    const readiness: number[] = [];
    // The certificates each node kept, as seen every 2 s: each renewal leaves a new one in its state directory.
    const kept = cluster.nodes.map((n) => new Set([serial(n.stateDir)]));
    const oldFingerprint = (await inspect()).ca.fingerprint as string;
    // Once every node renewed once: `cluster ca --rotate` (a second one while it runs is refused: the integration
    // test shows that, without the race against a rotation this quick).
    const rotation = { started: '', progress: new Set<string>(), finished: false };
    const { result, samples } = await sampled(cluster, () =>
      underLoad(addresses, 8080, async () => {
        const deadline = Date.now() + 6 * 60_000;
        while (Date.now() < deadline) {
          readiness.push(await readyNodeCount(cluster));
          for (const [i, n] of cluster.nodes.entries()) kept[i]?.add(serial(n.stateDir));
          if (!rotation.started && cluster.nodes.every((n) => renewals(n.agent.output()) >= 1)) {
            const started = await cluster.cli(['cluster', 'ca', '--rotate']);
            expect(started.code, started.output).toBe(0);
            rotation.started = JSON.parse(started.stdout).rotating.newFingerprint;
          } else if (rotation.started && !rotation.finished) {
            const { ca } = await inspect();
            if (ca.rotation) rotation.progress.add(ca.rotation.progress);
            rotation.finished = ca.fingerprint === rotation.started && !ca.rotation;
          }
          // Three renewals besides the one the rotation asks for.
          if (rotation.finished && cluster.nodes.every((n) => renewals(n.agent.output()) >= 4)) break;
          await new Promise((r) => setTimeout(r, 2_000));
        }
      }),
    );
    expect(rotation.started).toMatch(/^[0-9a-f]{64}$/);
    expect(rotation.started).not.toBe(oldFingerprint);
    expect(rotation.finished).toBe(true);
    for (const progress of rotation.progress) expect(progress).toMatch(/^\d of 4 renewed$/);
    for (const node of cluster.nodes) expect(renewals(node.agent.output()), node.host.name).toBeGreaterThanOrEqual(4);
    for (const certs of kept) expect(certs.size).toBeGreaterThanOrEqual(4);
    expect(renewals(cluster.manager.output())).toBeGreaterThanOrEqual(1);
    // Every node was ready at every look, and the load never failed.
    expect(readiness.length).toBeGreaterThan(20);
    expect(readiness.filter((n) => n !== 3)).toEqual([]);
    expect(result.requests).toBeGreaterThan(1_000);
    expect(result.failed).toEqual([]);
    expect(gapsIn(samples, before)).toEqual([]);
    expectNeverTwice(cluster, samples, await tasks());
    expect((await running()).map((t) => t.id).sort()).toEqual(before);
    // What each node keeps now: a one-minute certificate of the new CA for the same node, the new CA alone as
    // its trust, and no renewal ever failed.
    for (const node of cluster.nodes) {
      expect(node.agent.output()).not.toMatch(/"msg":"certificate renewal failed/);
      const caPem = readFileSync(path.join(node.stateDir, 'ca.crt'), 'utf8');
      expect(caPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
      expect(caFingerprint(caPem)).toBe(rotation.started);
      expect(issuedBy(readFileSync(path.join(node.stateDir, 'node.crt'), 'utf8'), caPem)).toBe(true);
      const cert = new X509Certificate(readFileSync(path.join(node.stateDir, 'node.crt')));
      expect(readIdentity(cert)).toMatchObject({ nodeId: node.nodeId, role: 'worker' });
      const { notBeforeMs, notAfterMs } = certificateLife(cert);
      expect(notAfterMs - notBeforeMs).toBe(60_000);
    }
  }, 480_000);
});
