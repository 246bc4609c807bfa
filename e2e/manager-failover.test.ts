import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeStatus_State, TaskState } from '@flotilla/api';
import { connectEtcd, Informer, Store } from '@flotilla/store';
import { HollowNodes, ManagedProcess, startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Three manager processes on one etcd, agents (hollow nodes) holding sessions with the leader. The leader is
// killed outright, then the next one is stopped cleanly: each time the agents move to the new leader and no
// healthy node is ever marked down.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');
const NODES = 30;
const TTL_SECONDS = 2;
const REPLICAS = 3_000;

interface ManagerProcess {
  name: string;
  child: ChildProcess;
  configDir: string;
  address: string;
  http: string;
  output: () => string;
}

let etcd: TestServer;
let client: Etcd3;
let store: Store;
let nodes: Informer<'nodes'>;
let hollow: HollowNodes | undefined;
const managers: ManagerProcess[] = [];
const dirs: { path: string; remove(): void }[] = [];
/** Every node status this test saw written, in order. */
const seen: { node: string; state: NodeStatus_State; message: string }[] = [];

function dir(label: string): string {
  const d = tempDir(label);
  dirs.push(d);
  return d.path;
}

async function startManagerProcess(name: string, join?: { address: string; token: string }): Promise<ManagerProcess> {
  const configDir = dir(`failover-cli-${name}`);
  const args = ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dir(name)];
  args.push('--election-ttl', String(TTL_SECONDS));
  if (join) args.push('--join', join.address, '--token', join.token);
  const child = spawn(bin, args, {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: configDir, LOG_LEVEL: 'warn' },
  });
  let output = '';
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (!/\/healthz/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`manager ${name} did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  const http = /http:\/\/(127\.0\.0\.1:\d+)\/healthz/.exec(output)?.[1] as string;
  const m = { name, child, configDir, address, http, output: () => output };
  managers.push(m);
  return m;
}

function cli(m: ManagerProcess, args: string[]): string {
  // The images are made up: deploys do not pin them to digests.
  const env = { ...process.env, FLOTILLA_CONFIG_DIR: m.configDir, FLOTILLA_RESOLVE_IMAGE: 'never' };
  return execFileSync(bin, args, { env, encoding: 'utf8' });
}

async function health(m: ManagerProcess): Promise<{ leader: boolean; sessions: number } | undefined> {
  try {
    const res = await fetch(`http://${m.http}/healthz`);
    return (await res.json()) as { leader: boolean; sessions: number };
  } catch {
    return undefined;
  }
}

/** The manager whose /healthz says it leads, once exactly one of the running ones does. */
async function leader(): Promise<ManagerProcess> {
  let found: ManagerProcess | undefined;
  await expect
    .poll(
      async () => {
        const live = managers.filter((m) => m.child.exitCode === null && m.child.signalCode === null);
        const leading = [];
        for (const m of live) if ((await health(m))?.leader) leading.push(m);
        found = leading.length === 1 ? leading[0] : undefined;
        return leading.length;
      },
      { timeout: 20_000, interval: 100 },
    )
    .toBe(1);
  return found as ManagerProcess;
}

const down = () => seen.filter((s) => s.state === NodeStatus_State.STATE_DOWN);

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  store = new Store(client);
  nodes = new Informer(store, 'nodes');
  nodes.subscribe((set) => {
    for (const c of set.changes) {
      if (c.type === 'put' && c.value.status && c.value.status.state !== c.previous?.status?.state) {
        seen.push({ node: c.id, state: c.value.status.state, message: c.value.status.message });
      }
    }
  });
  await nodes.start();
});

afterAll(async () => {
  hollow?.stop();
  for (const m of managers) if (m.child.exitCode === null) m.child.kill('SIGKILL');
  await nodes?.stop();
  client?.close();
  await etcd?.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

describe('several managers', () => {
  it('further managers join with the manager token and share the tokens; agents learn every manager', async () => {
    const first = await startManagerProcess('m1');
    const managerToken = cli(first, ['join-token', 'manager', '-q']).trim();
    await startManagerProcess('m2', { address: first.address, token: managerToken });
    await startManagerProcess('m3', { address: first.address, token: managerToken });
    expect(await leader()).toBe(first);

    // Any manager shows the current tokens, and a rotation on one is seen by all.
    const workerToken = cli(first, ['join-token', 'worker', '-q']).trim();
    expect(cli(managers[2] as ManagerProcess, ['join-token', 'worker', '-q']).trim()).toBe(workerToken);
    const rotated = cli(managers[1] as ManagerProcess, ['join-token', 'worker', '--rotate', '-q']).trim();
    expect(rotated).not.toBe(workerToken);
    expect(cli(first, ['join-token', 'worker', '-q']).trim()).toBe(rotated);

    // Agents join through a follower (any manager admits nodes) and are sent on to the leader.
    hollow = await HollowNodes.start({
      manager: (managers[2] as ManagerProcess).address,
      token: rotated,
      count: NODES,
      joinConcurrency: 16,
    });
    await expect.poll(async () => (await health(first))?.sessions, { timeout: 30_000 }).toBe(NODES);
    const ready = () => nodes.list().filter((n) => n.value.status?.state === NodeStatus_State.STATE_READY).length;
    await expect.poll(ready, { timeout: 10_000 }).toBe(NODES);
    await expect
      .poll(() => hollow?.nodes.every((n) => n.session.knownManagers().length === 3), { timeout: 5_000 })
      .toBe(true);
    expect(hollow.nodes[0]?.session.knownManagers()).toEqual(expect.arrayContaining(managers.map((m) => m.address)));
  });

  it('the leader is killed in the middle of a large scale-up: another takes over, agents move over, the deploy converges, no node is marked down', async () => {
    const old = await leader();
    const stackFile = path.join(dir('failover-stack'), 'stack.yml');
    // A /24 holds 253 tasks: a service this size needs a larger network.
    writeFileSync(
      stackFile,
      `services:\n  big:\n    image: nginx\n    deploy:\n      replicas: ${REPLICAS}\n` +
        'networks:\n  default:\n    ipam:\n      config: [{ subnet: 10.96.0.0/16 }]\n',
    );
    // Through a manager that does not lead: it sends the write on to the leader.
    const follower = managers.find((m) => m !== old && m.child.exitCode === null) as ManagerProcess;
    expect(cli(follower, ['stack', 'deploy', '-c', stackFile, 'scale'])).toContain('Creating service scale_big');
    // Kill it as soon as the first tasks run: placement and start-up are still under way.
    const tasks = new Informer(store, 'tasks');
    await tasks.start();
    const runningTasks = () =>
      tasks
        .list()
        .filter(
          (t) =>
            t.value.desiredState === TaskState.TASK_STATE_RUNNING &&
            t.value.status?.state === TaskState.TASK_STATE_RUNNING,
        );
    await expect.poll(() => runningTasks().length, { timeout: 20_000, interval: 10 }).toBeGreaterThan(0);
    const atKill = runningTasks().length;
    const killedAt = Date.now();
    old.child.kill('SIGKILL');
    const next = await leader();
    expect(next).not.toBe(old);
    const electedMs = Date.now() - killedAt;
    await expect.poll(async () => (await health(next))?.sessions, { timeout: 20_000, interval: 100 }).toBe(NODES);
    const movedMs = Date.now() - killedAt;
    // Past the new leader's whole takeover grace: a node that had been left behind would be down by now.
    await new Promise((r) => setTimeout(r, 9_000));
    expect(down()).toEqual([]);
    expect(nodes.list().filter((n) => n.value.status?.state === NodeStatus_State.STATE_READY)).toHaveLength(NODES);
    expect(hollow?.connected()).toBe(NODES);
    // The deploy converges under the new leader: every slot runs exactly once.
    await expect.poll(() => runningTasks().length, { timeout: 60_000, interval: 200 }).toBe(REPLICAS);
    const slots = new Set(runningTasks().map((t) => t.value.slot));
    expect(slots.size).toBe(REPLICAS);
    const live = tasks.list().filter((t) => t.value.desiredState === TaskState.TASK_STATE_RUNNING);
    expect(live).toHaveLength(REPLICAS);
    await tasks.stop();
    console.log(
      JSON.stringify({ failover: 'crash', elected_ms: electedMs, agents_moved_ms: movedMs, running_at_kill: atKill }),
    );
    expect(atKill).toBeLessThan(REPLICAS);
    expect(electedMs).toBeLessThan((TTL_SECONDS + 5) * 1_000);
  });

  it('the leader stops cleanly: it resigns, the last manager leads at once, agents move over, none marked down', async () => {
    const old = await leader();
    const stoppedAt = Date.now();
    old.child.kill('SIGTERM');
    await expect.poll(async () => (await health(old))?.leader ?? false, { timeout: 5_000, interval: 50 }).toBe(false);
    const next = await leader();
    expect(next).not.toBe(old);
    await expect.poll(async () => (await health(next))?.sessions, { timeout: 20_000, interval: 100 }).toBe(NODES);
    const movedMs = Date.now() - stoppedAt;
    if (old.child.exitCode === null) await new Promise((resolve) => old.child.once('exit', resolve));
    expect(old.child.exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 4_000));
    expect(down()).toEqual([]);
    expect(hollow?.connected()).toBe(NODES);
    console.log(JSON.stringify({ failover: 'resign', agents_moved_ms: movedMs }));
  });
});
