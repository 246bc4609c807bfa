import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ClusterNode, httpGet, type NetnsCluster, startNetnsCluster } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';

// Three namespace hosts on a 198.18.x.0/24 underlay, each with its own containerd and the built agent; the
// manager and the registry on the underlay's gateway. Containers talk across hosts over VXLAN, find services by
// name through each node's DNS server, and reach published ports on every host.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const SERVICES = ['net_web', 'net_metrics', 'net_client', 'net_outsider', 'net_peer'];
/** Namespaces of the tasks of the node the test removes: nobody is left there to remove them. */
const leftOnRemoved = new Set<string>();

interface PsTask {
  id: string;
  nodeId: string;
  desiredState: string;
  status: { state: string };
}

/** Every task the tests saw: their namespaces must all be gone at the end. */
const seenTasks = new Set<string>();

async function tasks(service: string): Promise<PsTask[]> {
  const ps = await cluster.cli(['service', 'ps', '--format', 'raw', service]);
  const all = ps.code === 0 ? (JSON.parse(ps.stdout) as PsTask[]) : [];
  for (const t of all) seenTasks.add(t.id);
  return all;
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

const ENDED = new Set([
  'TASK_STATE_COMPLETE',
  'TASK_STATE_SHUTDOWN',
  'TASK_STATE_FAILED',
  'TASK_STATE_REJECTED',
  'TASK_STATE_ORPHANED',
]);

/** A node's VXLAN entries that are duplicated, or stand for nothing on the other nodes now. */
async function fdbProblems(node: ClusterNode): Promise<string[]> {
  const macOf = (cidr: string) =>
    `02:42:${(cidr.split('/')[0] as string)
      .split('.')
      .map((b) => Number(b).toString(16).padStart(2, '0'))
      .join(':')}`;
  const expected = new Set<string>();
  for (const svc of SERVICES) {
    const ps = await cluster.cli(['service', 'ps', '--format', 'raw', svc]);
    const all = JSON.parse(ps.stdout) as (PsTask & { networks?: { address: string }[] })[];
    for (const t of all) {
      if (t.nodeId !== node.nodeId && !ENDED.has(t.status.state))
        for (const n of t.networks ?? []) expected.add(macOf(n.address));
    }
  }
  const nodes = JSON.parse((await cluster.cli(['node', 'ls', '--format', 'raw'])).stdout) as {
    id: string;
    ingressAddress?: string;
  }[];
  for (const n of nodes) if (n.id !== node.nodeId && n.ingressAddress) expected.add(macOf(n.ingressAddress));
  const lines = (await node.host.exec('bridge', ['fdb', 'show']))
    .split('\n')
    .filter((l) => /^02:42:.* dev fx-/.test(l));
  const count = new Map<string, number>();
  for (const l of lines) count.set(l, (count.get(l) ?? 0) + 1);
  const problems = [...count].filter(([, c]) => c > 1).map(([l]) => `twice: ${l}`);
  for (const l of lines) if (!expected.has(l.split(' ')[0] as string)) problems.push(`stale: ${l}`);
  return problems;
}

/** The addresses an nslookup answered (not the server's own line). */
function answers(out: string): string[] {
  const after = out
    .split(/\nName:/)
    .slice(1)
    .join('\n');
  return [...after.matchAll(/Address:\s*(\d+\.\d+\.\d+\.\d+)(?!:)/g)].map((m) => m[1] as string);
}

/** The subnet of the network the tests make with `network create`. */
const WIDE_SUBNET = '10.88.0.0/24';

/** From the test process: the root namespace, on the underlay. */
const get = httpGet;

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startNetnsCluster({
    bin,
    cwd: root,
    hosts: 3,
    agentArgs: ['--dns-upstream', 'none', '--drain-ms', '500'],
  });
  const image = cluster.images.busybox.tag;
  const stack = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'net.yml');
  // A web server whose /cgi-bin/addr tells the client address it saw.
  const server = (port: number) => [
    '      - sh',
    '      - -c',
    '      - |',
    '        mkdir -p /www/cgi-bin && hostname > /www/index.html',
    `        printf '%s\\n' '#!/bin/sh' 'printf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$$REMOTE_ADDR"' > /www/cgi-bin/addr`,
    '        chmod +x /www/cgi-bin/addr',
    `        exec httpd -f -p ${port} -h /www`,
  ];
  writeFileSync(
    stack,
    [
      'services:',
      '  web:',
      `    image: ${image}`,
      '    command:',
      ...server(80),
      '    init: true',
      '    ports: ["8080:80"]',
      '    healthcheck:',
      '      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"]',
      '      interval: 1s',
      '    deploy:',
      '      replicas: 3',
      '      update_config: { parallelism: 1, delay: 1s, order: stop-first }',
      '  metrics:',
      `    image: ${image}`,
      '    command:',
      ...server(9100),
      '    init: true',
      '    ports:',
      '      - { target: 9100, published: 9100, mode: host }',
      '  client:',
      `    image: ${image}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      '    deploy:',
      '      mode: global',
      '  outsider:',
      `    image: ${image}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      '    networks: [back]',
      '  peer:',
      `    image: ${image}`,
      '    command:',
      ...server(80),
      '    init: true',
      '    networks: [shared]',
      '    deploy: { replicas: 2, placement: { max_replicas_per_node: 1 } }',
      'networks:',
      '  back: {}',
      '  shared: { external: true, name: wide }',
      '',
    ].join('\n'),
  );
  // A network outside the stack (`network create`), which the stack joins as external.
  const made = await cluster.cli(['network', 'create', '--subnet', WIDE_SUBNET, 'wide']);
  if (made.code !== 0) throw new Error(`network create failed:\n${made.output}`);
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stack, 'net']);
  if (deployed.code !== 0)
    throw new Error(`deploy failed:\n${deployed.output}\n${cluster.nodes.map((n) => n.agent.output()).join('\n')}`);
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.close();
  // Nothing of the cluster is left: no namespace (hosts' or tasks'), no link of the underlay.
  expect(clusterLeftovers(cluster, seenTasks)).toEqual({ netns: [], bridge: false });
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

  it('joins a network made by network create across hosts, in its subnet, and nothing else reaches it', async () => {
    const ps = await cluster.cli(['service', 'ps', '--format', 'raw', 'net_peer']);
    const peers = (JSON.parse(ps.stdout) as (PsTask & { networks?: { address: string }[] })[]).filter(
      (t) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING',
    );
    expect(peers).toHaveLength(2);
    expect(new Set(peers.map((t) => t.nodeId)).size).toBe(2);
    for (const t of peers) seenTasks.add(t.id);
    const addresses = peers.map((t) => (t.networks?.[0]?.address ?? '').split('/')[0] as string);
    for (const a of addresses) expect(a.startsWith(WIDE_SUBNET.slice(0, -'0/24'.length))).toBe(true);
    // One peer reaches the other, on another host, over the network's VXLAN segment …
    const across = await inTask(peers[0] as PsTask, ['wget', '-q', '-O', '-', `http://${addresses[1]}/`]);
    expect(across.ok, across.out).toBe(true);
    expect(across.out.trim()).toBe((await inTask(peers[1] as PsTask, ['hostname'])).out.trim());
    // … and a container of another network does not.
    const [outsider] = await runningTasks('net_outsider');
    const fromOutsider = await inTask(outsider as PsTask, ['sh', '-c', `echo | nc -w 2 ${addresses[1]} 80`]);
    expect(fromOutsider.ok).toBe(false);
    const inspect = await cluster.cli(['network', 'inspect', 'wide']);
    expect(JSON.parse(inspect.stdout)[0]).toMatchObject({
      Name: 'wide',
      Flotilla: { Stack: '', UsedBy: ['net_peer'] },
    });
    const rm = await cluster.cli(['network', 'rm', 'wide']);
    expect(rm.code).toBe(1);
    expect(rm.output).toContain('in use by net_peer');
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

  it('publishes a host-mode port only on the node of its task, keeping the client address', async () => {
    const [metrics] = await runningTasks('net_metrics');
    const home = nodeOf(metrics as PsTask);
    const seen = await get(`http://${home.host.address}:9100/cgi-bin/addr`);
    expect(seen.status).toBe(200);
    // httpd listens on IPv6 too: the client's IPv4 address comes mapped.
    expect(seen.body.replace(/^\[::ffff:|\]$/g, '')).toBe(cluster.hosts.gateway);
    for (const other of cluster.nodes.filter((n) => n !== home)) {
      await expect(get(`http://${other.host.address}:9100/`)).rejects.toThrow();
    }
    // Through the ingress port, the task sees the node the client reached (its ingress address) instead.
    const viaIngress = await get(`http://${home.host.address}:8080/cgi-bin/addr`);
    expect(viaIngress.body.replace(/^\[::ffff:|\]$/g, '')).toMatch(/^10\.42\.\d+\.\d+$/);
  });

  it('rolls a service over under load through its published port without failing a request', async () => {
    let requests = 0;
    const failures: string[] = [];
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) {
        const host = cluster.hosts.hosts[i % cluster.hosts.hosts.length] as { address: string };
        requests++;
        try {
          const r = await get(`http://${host.address}:8080/`, true);
          if (r.status !== 200) failures.push(`${host.address}: HTTP ${r.status}`);
        } catch (err) {
          failures.push(`${host.address}: ${(err as Error).message}`);
        }
      }
    })();
    const before = new Set((await runningTasks('net_web')).map((t) => t.id));
    const updated = await cluster.cli(['service', 'update', '--detach', '--force', 'net_web']);
    expect(updated.code, updated.output).toBe(0);
    await expect
      .poll(async () => (await runningTasks('net_web')).filter((t) => !before.has(t.id)).length, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(3);
    // … and the old ones have stopped (they drain, then get their signal).
    await expect
      .poll(
        async () =>
          (await tasks('net_web')).filter(
            (t) => t.desiredState !== 'TASK_STATE_RUNNING' && t.status.state === 'TASK_STATE_RUNNING',
          ).length,
        { timeout: 60_000, interval: 500 },
      )
      .toBe(0);
    loading = false;
    await load;
    expect(requests).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  });

  it('keeps containers and their network across an agent restart', async () => {
    const node = cluster.nodes[0] as ClusterNode;
    const client = (await runningTasks('net_client')).find((t) => t.nodeId === node.nodeId) as PsTask;
    await node.restartAgent();
    // Same container, and names and virtual IPs still answer from it.
    await expect
      .poll(async () => (await runningTasks('net_client')).some((t) => t.id === client.id), { timeout: 20_000 })
      .toBe(true);
    await expect
      .poll(async () => (await inTask(client, ['wget', '-q', '-O', '-', 'http://web/'])).ok, { timeout: 20_000 })
      .toBe(true);
    // The new agent programmed nothing twice and left nothing stale: each entry once for the VXLAN device and
    // once for the bridge, and only for what is on the other nodes now (tasks may move meanwhile: polled).
    await expect.poll(() => fdbProblems(node), { timeout: 20_000, interval: 1_000 }).toEqual([]);
  });

  it("takes a removed node's entries off the other hosts", async () => {
    const gone = cluster.nodes[2] as ClusterNode;
    const fdbTo = async (n: ClusterNode) =>
      (await n.host.exec('bridge', ['fdb', 'show'])).split('\n').filter((l) => l.includes(`dst ${gone.host.address}`));
    expect((await fdbTo(cluster.nodes[0] as ClusterNode)).length).toBeGreaterThan(0);
    for (const t of (await Promise.all(SERVICES.map(tasks))).flat()) {
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
    for (const svc of SERVICES) await tasks(svc);
    const removed = await cluster.cli(['stack', 'rm', 'net']);
    expect(removed.code, removed.output).toBe(0);
    const ours = () =>
      (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter(
        (n) => seenTasks.has(n.slice('flt-'.length)) && !leftOnRemoved.has(n),
      );
    await expect
      .poll(ours, { timeout: 30_000, interval: 500 })
      .toEqual([])
      .catch(async (err) => {
        for (const svc of SERVICES) console.log(svc, JSON.stringify(await tasks(svc)));
        console.log([...leftOnRemoved], ours());
        for (const n of cluster.nodes) console.log(n.host.name, await n.ctr(['c', 'ls']).catch(() => ''));
        throw err;
      });
    // A namespace goes once its last process has: the veths with it.
    for (const node of cluster.nodes.slice(0, 2)) {
      await expect
        .poll(async () => (await node.host.exec('ip', ['-o', 'link', 'show'])).match(/fv\w+/g) ?? [], {
          timeout: 30_000,
          interval: 500,
        })
        .toEqual([]);
    }
    expect(await exec('ip', ['-o', 'link', 'show'])).not.toMatch(/ f[bx]-\d+/);
  });
});
