import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectEtcd, prefixEnd, ROOT } from '@flotilla/store';
import { type ClusterNode, httpGet, type NetnsCluster, startNetnsCluster, underLoad } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { closeCluster, live, type PsTask, serviceTasks } from './service-tasks.js';

// A stack's secret and config on three namespace hosts with real containers: the service reads them from its
// per-task tmpfs, etcd holds no plaintext, a node without the service's tasks holds nothing of them, a content
// change rolls the service under load without a failed request, a rollback brings the old content back, and
// nothing stays mounted once the stack is gone.
const isRoot = process.getuid?.() === 0;

let cluster: NetnsCluster;
const seen = new Set<string>();
/** Contents made for this run: none of them may show anywhere but inside the containers. */
const OLD = `old-${randomBytes(12).toString('hex')}`;
const NEW = `new-${randomBytes(12).toString('hex')}`;
const CONF = `conf-${randomBytes(12).toString('hex')}`;
const REPLICAS = 2;
/** Every CLI output the test saw: checked at the end for contents. */
const outputs: string[] = [];
let stackFile: string;
let secretFile: string;
/** The host the web service is kept off, and the idle service kept on. */
let spare: ClusterNode;

async function cli(args: string[]) {
  const r = await cluster.cli(args);
  outputs.push(r.output);
  return r;
}

const web = () => serviceTasks(cluster, 'sec_web', seen);
const webLive = async () => (await web()).filter(live);

/** What the web task behind a host's published port says it reads: each file's content and mode. */
async function served(address: string): Promise<string> {
  return (await httpGet(`http://${address}:8080/cgi-bin/files`, true)).body;
}
const expected = (secret: string) => `secret ${secret} 444\nconfig ${CONF} 440`;

/** Mount points under a node's files directory, as its agent's mount table lists them. */
function filesMounts(node: ClusterNode): string[] {
  const dir = `${path.join(node.stateDir, 'files')}/`;
  return readFileSync(`/proc/${node.agent.child.pid}/mounts`, 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir))
    .map((m) => m.slice(dir.length));
}
function filesDirs(node: ClusterNode): string[] {
  const dir = path.join(node.stateDir, 'files');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * How many secret and config versions etcd holds, once no raw value of Flotilla's keys was
 * found to hold a content of this run.
 */
async function etcdFiles(): Promise<number> {
  const etcd = connectEtcd({ endpoints: [cluster.etcd?.url as string] });
  try {
    const raw = await etcd.kv.range({ key: Buffer.from(ROOT), range_end: Buffer.from(prefixEnd(ROOT)) });
    for (const kv of raw.kvs) {
      for (const s of [OLD, NEW, CONF]) expect(kv.value.includes(Buffer.from(s)), kv.key.toString()).toBe(false);
    }
    return raw.kvs.filter((kv) => kv.key.toString().startsWith(`${ROOT}files/`)).length;
  } finally {
    etcd.close();
  }
}

function writeStack(secret: string): void {
  writeFileSync(secretFile, secret);
  writeFileSync(
    stackFile,
    [
      'services:',
      '  web:',
      `    image: ${cluster.images.busybox.tag}`,
      '    command:',
      '      - sh',
      '      - -c',
      '      - |',
      '        mkdir -p /www/cgi-bin && echo up > /www/index.html',
      "        printf '%s\\n' '#!/bin/sh' 'printf \"Content-Type: text/plain\\r\\n\\r\\n\"' \\",
      `          'echo "secret $$(cat /run/secrets/token) $$(stat -c %a /run/secrets/token)"' \\`,
      `          'echo "config $$(cat /etc/app.conf) $$(stat -c %a /etc/app.conf)"' > /www/cgi-bin/files`,
      '        chmod +x /www/cgi-bin/files',
      '        exec httpd -f -p 80 -h /www',
      '    init: true',
      '    ports: ["8080:80"]',
      '    secrets: [token]',
      '    configs:',
      '      - { source: app_conf, target: /etc/app.conf, mode: "0440" }',
      '    healthcheck:',
      '      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"]',
      '      interval: 1s',
      '    deploy:',
      `      replicas: ${REPLICAS}`,
      `      placement: { constraints: ["node.hostname != ${spare.host.name}"] }`,
      '      update_config: { parallelism: 1, delay: 1s, order: stop-first }',
      '      rollback_config: { parallelism: 1, delay: 1s, order: stop-first }',
      // A task on the spare host too: running containers there does not bring the web service's files with it.
      '  idle:',
      `    image: ${cluster.images.busybox.tag}`,
      '    command: ["sh", "-c", "while true; do sleep 1; done"]',
      '    init: true',
      '    deploy:',
      `      placement: { constraints: ["node.hostname == ${spare.host.name}"] }`,
      'secrets:',
      `  token: { file: ./${path.basename(secretFile)} }`,
      'configs:',
      '  app_conf:',
      `    content: ${CONF}`,
      '',
    ].join('\n'),
  );
}

/** Waits until the web service runs REPLICAS tasks none of which is in `before`, and no older one still runs. */
async function rolledOver(before: Set<string>): Promise<void> {
  await expect
    .poll(async () => (await webLive()).filter((t) => !before.has(t.id)).length, { timeout: 60_000, interval: 500 })
    .toBe(REPLICAS);
  await expect
    .poll(
      async () =>
        (await web()).filter((t) => t.desiredState !== 'TASK_STATE_RUNNING' && t.status.state === 'TASK_STATE_RUNNING')
          .length,
      { timeout: 30_000, interval: 500 },
    )
    .toBe(0);
}

/** Each node holds a tmpfs for its running web tasks and for nothing else (ended tasks' went with them). */
async function filesFollowTasks(): Promise<void> {
  const holding = async () => {
    const tasks = await webLive();
    return cluster.nodes.map((node) => {
      const here = tasks.filter((t) => t.nodeId === node.nodeId).map((t) => t.id);
      return {
        node: node.host.name,
        extra: filesMounts(node).filter((id) => !here.includes(id)),
        missing: here.filter((id) => !filesMounts(node).includes(id)),
      };
    });
  };
  await expect
    .poll(holding, { timeout: 20_000, interval: 500 })
    .toEqual(cluster.nodes.map((n) => ({ node: n.host.name, extra: [], missing: [] })));
}

/** Every host's published port answers with `secret`'s content, whichever task answers. */
async function servedEverywhere(secret: string): Promise<void> {
  for (const host of cluster.hosts.hosts) {
    for (let i = 0; i < 2 * REPLICAS; i++) expect(await served(host.address)).toBe(expected(secret));
  }
}

beforeAll(async () => {
  if (!isRoot) return;
  cluster = await startNetnsCluster({
    bin,
    cwd: root,
    hosts: 3,
    agentArgs: ['--dns-upstream', 'none', '--drain-ms', '500'],
  });
  spare = cluster.nodes[2] as ClusterNode;
  stackFile = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'sec.yml');
  secretFile = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'token.txt');
  writeStack(OLD);
  const deployed = await cli(['stack', 'deploy', '--wait', '--timeout', '2m', '-c', stackFile, 'sec']);
  if (deployed.code !== 0)
    throw new Error(`deploy failed:\n${deployed.output}\n${cluster.nodes.map((n) => n.agent.output()).join('\n')}`);
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  const logs = [...cluster.nodes.map((n) => n.agent.output()), ...cluster.managers.map((m) => m.daemon.output())];
  await closeCluster(cluster, seen);
  // No content in what the CLI printed, nor in any agent's or manager's log.
  for (const text of [...outputs, ...logs]) for (const s of [OLD, NEW, CONF]) expect(text).not.toContain(s);
});

describe.skipIf(!isRoot)('secrets and configs on namespace hosts', () => {
  it('mounts the secret and the config, with their modes, where the service reads them', async () => {
    expect(await webLive()).toHaveLength(REPLICAS);
    await servedEverywhere(OLD);
  });

  it('keeps etcd free of their plaintext', async () => {
    // The secret and the config are there, sealed.
    expect(await etcdFiles()).toBe(2);
  });

  it('holds the files only on the nodes that run the tasks using them', async () => {
    const tasks = await webLive();
    const idle = (await serviceTasks(cluster, 'sec_idle', seen)).filter(live);
    expect(idle.map((t) => t.nodeId)).toEqual([spare.nodeId]);
    for (const node of cluster.nodes) {
      const here = tasks.filter((t) => t.nodeId === node.nodeId).map((t) => t.id);
      expect(filesMounts(node).sort(), node.host.name).toEqual(here.sort());
      expect(filesDirs(node).sort(), node.host.name).toEqual(here.sort());
    }
    // The spare host runs a task, but none of the web service: nothing of its files there.
    expect(tasks.some((t) => t.nodeId === spare.nodeId)).toBe(false);
    expect(filesMounts(spare)).toEqual([]);
    expect(filesDirs(spare)).toEqual([]);
    // A node with a task holds each file on that task's tmpfs, with the mode asked.
    const t = tasks[0] as PsTask;
    const home = cluster.nodes.find((n) => n.nodeId === t.nodeId) as ClusterNode;
    const dir = path.join(home.stateDir, 'files', t.id);
    const files = readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8'));
    expect(files.sort()).toEqual([CONF, OLD].sort());
  });

  it('plans, then rolls a content change under load without a failed request', async () => {
    writeStack(NEW);
    const plan = await cli(['stack', 'deploy', '--dry-run', '-c', stackFile, 'sec']);
    expect(plan.code, plan.output).toBe(0);
    expect(plan.stdout).toMatch(/~ secret token: new version 2 \(content changed\), rolls sec_web/);
    expect(plan.stdout).toMatch(/= config app_conf: version 1 \(unchanged\)/);
    expect(plan.stdout).toMatch(/sec_web\s+update\s+tasks replaced/);
    expect(plan.stdout).toMatch(
      /secrets\[\/run\/secrets\/token\]\.object_id: sec_token version 1 → sec_token version 2/,
    );
    expect(plan.stdout).toMatch(/= sec_idle\s+unchanged/);
    for (const s of [OLD, NEW, CONF]) expect(plan.output).not.toContain(s);
    // A dry run changed nothing: the old content is still served.
    await servedEverywhere(OLD);

    const before = new Set((await webLive()).map((t) => t.id));
    const idleBefore = (await serviceTasks(cluster, 'sec_idle', seen)).filter(live).map((t) => t.id);
    const { requests, failed } = await underLoad(
      cluster.hosts.hosts.map((h) => h.address),
      8080,
      async () => {
        const deployed = await cli(['stack', 'deploy', '--wait', '--timeout', '2m', '-c', stackFile, 'sec']);
        expect(deployed.code, deployed.output).toBe(0);
        await rolledOver(before);
      },
    );
    expect(requests).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    await servedEverywhere(NEW);
    await filesFollowTasks();
    // The new version is stored beside the old one (the rollback target uses it), sealed as well.
    expect(await etcdFiles()).toBe(3);
    // The service that uses neither was not touched.
    expect((await serviceTasks(cluster, 'sec_idle', seen)).filter(live).map((t) => t.id)).toEqual(idleBefore);
  });

  it('brings the old content back with a rollback, without a failed request', async () => {
    const before = new Set((await webLive()).map((t) => t.id));
    const { requests, failed } = await underLoad(
      cluster.hosts.hosts.map((h) => h.address),
      8080,
      async () => {
        const back = await cli(['service', 'rollback', '--detach', 'sec_web']);
        expect(back.code, back.output).toBe(0);
        await rolledOver(before);
      },
    );
    expect(requests).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    await servedEverywhere(OLD);
    await filesFollowTasks();
  });

  it('leaves no tmpfs on any node once the stack is removed', async () => {
    await web();
    const removed = await cli(['stack', 'rm', 'sec']);
    expect(removed.code, removed.output).toBe(0);
    for (const node of cluster.nodes) {
      await expect.poll(() => filesMounts(node), { timeout: 30_000, interval: 500 }).toEqual([]);
      await expect.poll(() => filesDirs(node), { timeout: 30_000, interval: 500 }).toEqual([]);
    }
  });
});
