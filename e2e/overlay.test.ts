import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ClusterNode, type NetnsCluster, startNetnsCluster } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';

// Three namespace hosts on a 198.18.x.0/24 underlay, each with its own containerd and the built agent; the
// manager and the registry on the underlay's gateway. Containers talk across hosts over VXLAN, find services by
// name through each node's DNS server, and reach published ports on every host.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
let netnsBefore = new Set<string>();
/** Namespaces of the tasks of the node the test removes: nobody is left there to remove them. */
const leftOnRemoved = new Set<string>();

interface PsTask {
  id: string;
  nodeId: string;
  desiredState: string;
  status: { state: string };
}

async function tasks(service: string): Promise<PsTask[]> {
  const ps = await cluster.cli(['service', 'ps', '--format', 'json', service]);
  return ps.code === 0 ? (JSON.parse(ps.stdout) as PsTask[]) : [];
}

async function runningTasks(service: string): Promise<PsTask[]> {
  return (await tasks(service)).filter(
    (t) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING',
  );
}

function nodeOf(t: PsTask): ClusterNode {
  const node = cluster.nodes.find((n) => n.nodeId === t.nodeId);
  if (!node) throw new Error(`task ${t.id} is on unknown node ${t.nodeId}`);
  return node;
}

let execs = 0;
/** Runs a command inside a task's container (its own resolv.conf and namespace), as `docker exec` would. */
async function inTask(t: PsTask, argv: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const out = await nodeOf(t).ctr(
      ['task', 'exec', '--exec-id', `e2e-${process.pid}-${++execs}`, t.id, ...argv],
      20_000,
    );
    return { ok: true, out };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? '') + (err as Error).message };
  }
}

function exec(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(stdout),
    ),
  );
}

/** The addresses an nslookup answered (not the server's own line). */
function answers(out: string): string[] {
  const after = out
    .split(/\nName:/)
    .slice(1)
    .join('\n');
  return [...after.matchAll(/Address:\s*(\d+\.\d+\.\d+\.\d+)(?!:)/g)].map((m) => m[1] as string);
}

/** An HTTP GET from the test process (the root namespace, on the underlay) with a short timeout. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  return { status: res.status, body: (await res.text()).trim() };
}

beforeAll(async () => {
  if (!isRoot) return;
  netnsBefore = new Set(existsSync('/run/netns') ? readdirSync('/run/netns') : []);
  cluster = await startNetnsCluster({
    bin,
    cwd: root,
    hosts: 3,
    agentArgs: ['--dns-upstream', 'none', '--drain-ms', '500'],
  });
  const image = cluster.images.busybox.tag;
  const stack = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'net.yml');
  writeFileSync(
    stack,
    [
      'services:',
      '  web:',
      `    image: ${image}`,
      '    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]',
      '    ports: ["8080:80"]',
      '    deploy:',
      '      replicas: 3',
      '  client:',
      `    image: ${image}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      '    deploy:',
      '      mode: global',
      '  outsider:',
      `    image: ${image}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      '    networks: [back]',
      'networks:',
      '  back: {}',
      '',
    ].join('\n'),
  );
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stack, 'net']);
  if (deployed.code !== 0)
    throw new Error(`deploy failed:\n${deployed.output}\n${cluster.nodes.map((n) => n.agent.output()).join('\n')}`);
}, 300_000);

afterAll(async () => {
  await cluster?.close();
});

describe.skipIf(!isRoot)('overlay networks across three hosts', () => {
  it('spreads the tasks over the hosts and gives each an address on its networks', async () => {
    const web = await runningTasks('net_web');
    expect(web).toHaveLength(3);
    expect(new Set(web.map((t) => t.nodeId)).size).toBe(3);
    const clients = await runningTasks('net_client');
    expect(clients).toHaveLength(3);
  });

  it('reaches a service by name from every host, over its virtual IP spread across hosts', async () => {
    const web = await runningTasks('net_web');
    const names = new Set(await Promise.all(web.map(async (t) => (await inTask(t, ['hostname'])).out.trim())));
    for (const client of await runningTasks('net_client')) {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const r = await inTask(client, ['wget', '-q', '-O', '-', 'http://web/']);
        expect(r.ok, r.out).toBe(true);
        seen.add(r.out.trim());
      }
      // Every answer came from a web task, and more than one host's task answered.
      for (const s of seen) expect(names.has(s)).toBe(true);
      expect(seen.size).toBeGreaterThan(1);
      // The stack-qualified name resolves too, to the same virtual IP.
      const full = await inTask(client, ['nslookup', 'net_web']);
      const short = await inTask(client, ['nslookup', 'web']);
      expect(answers(full.out)).toHaveLength(1);
      expect(answers(full.out)[0]).toMatch(/^10\.43\./);
      expect(answers(full.out)).toEqual(answers(short.out));
    }
  });

  it('answers tasks.<service> with every ready task address', async () => {
    const [client] = await runningTasks('net_client');
    const r = await inTask(client as PsTask, ['nslookup', 'tasks.web']);
    expect(new Set(answers(r.out)).size, r.out).toBe(3);
  });

  it('keeps a container off networks it did not join', async () => {
    const [outsider] = await runningTasks('net_outsider');
    const [client] = await runningTasks('net_client');
    // No name of the default network resolves on `back` …
    const lookup = await inTask(outsider as PsTask, ['nslookup', 'web']);
    expect(answers(lookup.out)).toEqual([]);
    // … and a web task's address, reachable from a client, is not from the outsider.
    const addresses = answers((await inTask(client as PsTask, ['nslookup', 'tasks.web'])).out);
    expect(addresses.length).toBeGreaterThan(0);
    const fromClient = await inTask(client as PsTask, ['wget', '-q', '-O', '-', `http://${addresses[0]}/`]);
    expect(fromClient.ok, fromClient.out).toBe(true);
    // busybox's nc gives up after -w seconds (its wget -T crashes in Debian's static build).
    const fromOutsider = await inTask(outsider as PsTask, ['sh', '-c', `echo | nc -w 2 ${addresses[0]} 80`]);
    expect(fromOutsider.ok).toBe(false);
  });

  it('answers a published port on every host, from a task on any host', async () => {
    const web = await runningTasks('net_web');
    const names = new Set(await Promise.all(web.map(async (t) => (await inTask(t, ['hostname'])).out.trim())));
    for (const host of cluster.hosts.hosts) {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const r = await get(`http://${host.address}:8080/`);
        expect(r.status).toBe(200);
        expect(names.has(r.body)).toBe(true);
        seen.add(r.body);
      }
      expect(seen.size).toBeGreaterThan(1);
    }
  });

  it("takes a removed node's entries off the other hosts", async () => {
    const gone = cluster.nodes[2] as ClusterNode;
    const fdbTo = async (n: ClusterNode) =>
      (await n.host.exec('bridge', ['fdb', 'show'])).split('\n').filter((l) => l.includes(`dst ${gone.host.address}`));
    expect((await fdbTo(cluster.nodes[0] as ClusterNode)).length).toBeGreaterThan(0);
    for (const t of [...(await tasks('net_web')), ...(await tasks('net_client')), ...(await tasks('net_outsider'))]) {
      if (t.nodeId === gone.nodeId) leftOnRemoved.add(`flt-${t.id}`);
    }
    await gone.agent.stop(10_000);
    await gone.host.cut();
    const removed = await cluster.cli(['node', 'rm', '--force', gone.nodeId]);
    expect(removed.code, removed.output).toBe(0);
    await expect.poll(() => fdbTo(cluster.nodes[0] as ClusterNode), { timeout: 20_000, interval: 500 }).toEqual([]);
    await expect.poll(() => fdbTo(cluster.nodes[1] as ClusterNode), { timeout: 20_000, interval: 500 }).toEqual([]);
    // The service is whole again on the other two hosts, and still answers on their published port.
    await expect.poll(async () => (await runningTasks('net_web')).length, { timeout: 60_000, interval: 1_000 }).toBe(3);
    await expect
      .poll(async () => (await get(`http://${cluster.nodes[0]?.host.address}:8080/`)).status, { timeout: 20_000 })
      .toBe(200);
  });

  it('leaves no namespace, link or rule behind when the stack is removed', async () => {
    const removed = await cluster.cli(['stack', 'rm', 'net']);
    expect(removed.code, removed.output).toBe(0);
    const ours = () =>
      (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter(
        (n) =>
          n.startsWith('flt-') &&
          !netnsBefore.has(n) &&
          !leftOnRemoved.has(n) &&
          !cluster.hosts.hosts.some((h) => h.netns === n),
      );
    await expect.poll(ours, { timeout: 60_000, interval: 500 }).toEqual([]);
    for (const node of cluster.nodes.slice(0, 2)) {
      const links = await node.host.exec('ip', ['-o', 'link', 'show']);
      expect(links).not.toMatch(/fv\w+/);
    }
    expect(await exec('ip', ['-o', 'link', 'show'])).not.toMatch(/ f[bx]-\d+/);
  });
});
