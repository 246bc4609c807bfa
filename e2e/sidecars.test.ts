import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { httpGet, type NetnsCluster, type RuntimeSample, sampled, startNetnsCluster } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';
import { type PsTask, serviceTasks } from './service-tasks.js';

// Sidecars on two namespace hosts: a web server bound to 127.0.0.1 only, a proxy sidecar in its network namespace
// that serves the web's published port by fetching from 127.0.0.1, and a log shipper that reads the web's log
// volume (read-only). What must not happen: a sidecar on another host than its main task, or running on alone
// for longer than its stop grace once its main task is killed.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const seen = new Set<string>();
const GRACE_MS = 2_000;

type Task = PsTask & { mainTaskId?: string };
const tasks = async (service: string) => (await serviceTasks(cluster, service, seen)) as Task[];
const running = async (service: string) =>
  (await tasks(service)).filter(
    (t) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING',
  );
const hostOf = (nodeId: string) => cluster.nodes.find((n) => n.nodeId === nodeId);

let execs = 0;
async function inTask(t: Task, argv: string[]): Promise<{ ok: boolean; out: string }> {
  const node = hostOf(t.nodeId);
  if (!node) throw new Error(`task ${t.id} is on unknown node ${t.nodeId}`);
  try {
    const out = await node.ctr(['task', 'exec', '--exec-id', `e2e-${process.pid}-${++execs}`, t.id, ...argv], 20_000);
    return { ok: true, out };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? '') + (err as Error).message };
  }
}

/** Every main task runs with one proxy and one shipper beside it, on its node (and no other sidecar runs). */
async function pairs(): Promise<{ web: Task[]; proxy: Task[]; shipper: Task[] }> {
  const [web, proxy, shipper] = await Promise.all([
    running('side_web'),
    running('side_proxy'),
    running('side_shipper'),
  ]);
  return { web, proxy, shipper };
}

function paired(p: { web: Task[]; proxy: Task[]; shipper: Task[] }): boolean {
  if (p.web.length !== 2) return false;
  return [p.proxy, p.shipper].every(
    (sidecars) =>
      sidecars.length === 2 &&
      p.web.every((w) => sidecars.some((s) => s.mainTaskId === w.id && s.nodeId === w.nodeId && s.slot === w.slot)),
  );
}

/**
 * Sidecars seen running in the runtimes where their main task was not: on another host (never allowed), or on
 * their host after it stopped, for longer than the stop grace (plus one sampling interval).
 */
function lonelySidecars(samples: readonly RuntimeSample[], sidecars: Task[], mains: Task[], everyMs: number): string[] {
  const problems: string[] = [];
  const mainHost = new Map(mains.map((m) => [m.id, hostOf(m.nodeId)?.host.name]));
  for (const s of sidecars) {
    let aloneSince: number | undefined;
    for (const sample of samples) {
      const host = Object.entries(sample.byHost).find(([, ids]) => ids.includes(s.id))?.[0];
      if (!host) {
        aloneSince = undefined;
        continue;
      }
      if (host !== mainHost.get(s.mainTaskId ?? '')) problems.push(`${s.id} ran on ${host}, its main task elsewhere`);
      if (sample.byHost[host]?.includes(s.mainTaskId ?? '')) aloneSince = undefined;
      else aloneSince ??= sample.at;
      if (aloneSince !== undefined && sample.at - aloneSince > GRACE_MS + everyMs) {
        problems.push(`${s.id} ran without its main task ${s.mainTaskId} for ${sample.at - aloneSince} ms`);
        break;
      }
    }
  }
  return problems;
}

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startNetnsCluster({ bin, cwd: root, hosts: 2, agentArgs: ['--dns-upstream', 'none'] });
  const image = cluster.images.busybox.tag;
  const stack = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'side.yml');
  writeFileSync(
    stack,
    [
      'services:',
      '  web:',
      `    image: ${image}`,
      '    command:',
      '      - sh',
      '      - -c',
      '      - |',
      '        mkdir -p /www && hostname > /www/index.html',
      '        (while true; do echo "served by $$(hostname)" >> /var/log/web/app.log; sleep 1; done) &',
      // Loopback only: only what shares its network namespace reaches it.
      '        exec httpd -f -p 127.0.0.1:8080 -h /www',
      '    init: true',
      '    volumes: [logs:/var/log/web]',
      // The proxy's port, published by the service whose network namespace it shares.
      '    ports: ["8088:9000"]',
      '    deploy:',
      '      replicas: 2',
      '      restart_policy: { delay: 1s }',
      '  proxy:',
      `    image: ${image}`,
      '    network_mode: "service:web"',
      '    init: true',
      `    stop_grace_period: ${GRACE_MS / 1000}s`,
      '    command:',
      '      - sh',
      '      - -c',
      '      - |',
      '        mkdir -p /srv/cgi-bin',
      `        printf '%s\\n' '#!/bin/sh' 'printf "Content-Type: text/plain\\r\\n\\r\\n"' 'wget -q -O - http://127.0.0.1:8080/' > /srv/cgi-bin/app`,
      '        chmod +x /srv/cgi-bin/app',
      '        exec httpd -f -p 9000 -h /srv',
      '  shipper:',
      `    image: ${image}`,
      '    volumes_from: ["web:ro"]',
      '    init: true',
      `    stop_grace_period: ${GRACE_MS / 1000}s`,
      '    command: ["sh", "-c", "touch /var/log/web/app.log 2>/dev/null; exec tail -F /var/log/web/app.log"]',
      'volumes:',
      '  logs: {}',
      '',
    ].join('\n'),
  );
  const config = await cluster.cli(['stack', 'config', '-c', stack]);
  expect(config.stdout).toMatch(/# sidecar: each task of proxy runs beside the task of the same slot of web/);
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stack, 'side']);
  if (deployed.code !== 0)
    throw new Error(`deploy failed:\n${deployed.output}\n${cluster.nodes.map((n) => n.agent.output()).join('\n')}`);
  const until = Date.now() + 60_000;
  while (!paired(await pairs())) {
    if (Date.now() > until) throw new Error(`sidecars not paired: ${JSON.stringify(await pairs())}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.close();
  expect(clusterLeftovers(cluster, seen)).toEqual({ netns: [], bridge: false });
});

describe.skipIf(!isRoot)('sidecars across two hosts', () => {
  it('places each sidecar beside the main task of its slot, in its network namespace', async () => {
    const { web, proxy } = await pairs();
    expect(new Set(web.map((t) => t.nodeId)).size).toBe(2);
    for (const p of proxy) {
      const main = web.find((w) => w.id === p.mainTaskId) as Task;
      // The proxy reaches the web on 127.0.0.1, where the web's hostname answers, and shares its /etc/hostname.
      const viaLoopback = await inTask(p, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/']);
      expect(viaLoopback.out.trim()).toBe(main.id.slice(0, 12));
      // The shipper, which shares only volumes, does not: it has its own network namespace.
      const shipper = (await running('side_shipper')).find((s) => s.mainTaskId === main.id) as Task;
      const fromShipper = await inTask(shipper, ['sh', '-c', 'echo | nc -w 2 127.0.0.1 8080']);
      expect(fromShipper.ok).toBe(false);
    }
  });

  it("serves the main service's published port through the proxy sidecar, from every host", async () => {
    const { web } = await pairs();
    const names = new Set(web.map((w) => w.id.slice(0, 12)));
    for (const node of cluster.nodes) {
      const r = await httpGet(`http://${node.host.address}:8088/cgi-bin/app`);
      expect(r.status).toBe(200);
      expect(names.has(r.body.trim()), r.body).toBe(true);
    }
  });

  it("lets the log shipper read the web's log volume on its node, read-only", async () => {
    const { shipper, web } = await pairs();
    for (const s of shipper) {
      const main = web.find((w) => w.id === s.mainTaskId) as Task;
      await expect
        .poll(async () => (await inTask(s, ['cat', '/var/log/web/app.log'])).out, { timeout: 10_000 })
        .toContain(`served by ${main.id.slice(0, 12)}`);
      const write = await inTask(s, ['sh', '-c', 'echo forged >> /var/log/web/app.log']);
      expect(write.ok).toBe(false);
      expect(write.out).toMatch(/Read-only file system/);
    }
  });

  it('moves the sidecars with a killed main task, never leaving them alone for longer than their stop grace', async () => {
    const before = await pairs();
    const victim = before.web[0] as Task;
    const node = hostOf(victim.nodeId);
    const everyMs = 300;
    const { samples } = await sampled(
      cluster,
      async () => {
        await node?.ctr(['task', 'kill', '-s', 'SIGKILL', victim.id]);
        await expect
          .poll(
            async () => {
              const now = await pairs();
              return paired(now) && !now.web.some((w) => w.id === victim.id);
            },
            { timeout: 60_000, interval: 500 },
          )
          .toBe(true);
      },
      everyMs,
    );
    const after = await pairs();
    const replacement = after.web.find((w) => w.slot === victim.slot) as Task;
    expect(replacement.id).not.toBe(victim.id);
    // The old main task's sidecars ended; new ones run beside its replacement, on its node.
    for (const sidecars of [after.proxy, after.shipper]) {
      const beside = sidecars.find((s) => s.slot === victim.slot) as Task;
      expect(beside.mainTaskId).toBe(replacement.id);
      expect(beside.nodeId).toBe(replacement.nodeId);
    }
    const everyTask = [...(await tasks('side_web')), ...(await tasks('side_proxy')), ...(await tasks('side_shipper'))];
    const sidecars = everyTask.filter((t) => t.mainTaskId);
    const mains = everyTask.filter((t) => !t.mainTaskId);
    expect(sidecars.filter((s) => s.mainTaskId === victim.id)).toHaveLength(2);
    expect(samples.length).toBeGreaterThan(3);
    expect(lonelySidecars(samples, sidecars, mains, everyMs)).toEqual([]);
    // And the service still answers through the proxy.
    const r = await httpGet(`http://${cluster.nodes[0]?.host.address}:8088/cgi-bin/app`);
    expect(r.status).toBe(200);
  });
});
