import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { portAnswers } from '@flotilla/devhosts';
import { tempDir } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// `flotilla dev up` as `npm start` runs it without root (or with --loopback): Redis, a manager (with its own etcd
// member, a child of it) and agents as background processes on loopback, then a deploy and its logs, then `dev down`, which must leave nothing
// running.
const devDir = tempDir('dev-cluster');
const configDir = tempDir('dev-cli');
// The process executor runs no image: the hello example's is not pinned (Docker Hub is not asked).
const env = {
  ...process.env,
  FLOTILLA_DEV_DIR: path.join(devDir.path, 'dev'),
  FLOTILLA_CONFIG_DIR: configDir.path,
  FLOTILLA_RESOLVE_IMAGE: 'never',
};
let pids: number[] = [];

const capture = (args: string[]) => runFlotilla(args, env);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(async () => {
  await capture(['dev', 'down']);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  devDir.remove();
  configDir.remove();
});

describe('flotilla dev on loopback', () => {
  it('brings up a local cluster, runs the hello example on it, and takes it all down again', async () => {
    const up = await capture(['dev', 'up', '--nodes', '2', '--loopback']);
    expect(up.code, up.output).toBe(0);
    expect(up.stdout).toContain('the dev cluster is up: 1 manager, 2 nodes (process executor');
    const state = JSON.parse(readFileSync(path.join(env.FLOTILLA_DEV_DIR, 'state.json'), 'utf8'));
    pids = state.pids.map((p: { pid: number }) => p.pid);
    expect(pids).toHaveLength(4);
    expect(state.redis).toMatch(/^127\.0\.0\.1:\d+$/);
    // Redis serves TLS only, to clients with a certificate of the cluster CA, and the managers use --redis-tls.
    const redisConf = readFileSync(path.join(env.FLOTILLA_DEV_DIR, 'redis.conf'), 'utf8');
    expect(redisConf).toMatch(/^port 0$/m);
    expect(redisConf).toMatch(/^tls-auth-clients yes$/m);
    // The manager's own etcd member, on mutual TLS.
    const etcdPort = Number(/^https:\/\/127\.0\.0\.1:(\d+)$/.exec(state.etcd)?.[1]);
    expect(await portAnswers(etcdPort)).toBe(true);
    expect((await capture(['dev', 'up'])).stdout).toContain('already up');

    expect((await capture(['stack', 'deploy', '-c', 'examples/hello/stack.yml', 'hello'])).code).toBe(0);
    await expect
      .poll(async () => (await capture(['service', 'ls'])).stdout, { timeout: 30_000, interval: 500 })
      .toMatch(/hello_hello\s+replicated\s+3\/3/);
    const listed = JSON.parse((await capture(['node', 'ls', '--format', 'raw'])).stdout) as {
      description: { hostname: string };
      managerStatus?: { leader: boolean };
    }[];
    // The manager is listed too, as the leader.
    expect(listed.filter((n) => n.managerStatus).map((n) => n.managerStatus?.leader)).toEqual([true]);
    const nodes = listed.filter((n) => !n.managerStatus);
    expect(nodes.map((n) => n.description.hostname).sort()).toEqual(['dev-node-1', 'dev-node-2']);

    await checkLogs();

    const down = await capture(['dev', 'down']);
    expect(down.stdout).toContain('the dev cluster is down (4 processes stopped');
    expect(pids.filter(alive)).toEqual([]);
    expect(await portAnswers(etcdPort)).toBe(false);
    expect(existsSync(env.FLOTILLA_DEV_DIR)).toBe(false);
    expect((await capture(['dev', 'down'])).stdout).toBe('no dev cluster is up\n');
  });
});

/** `service logs` on the hello example: its tasks print a line every 5 s, shipped by the agents to Redis. */
async function checkLogs(): Promise<void> {
  const line = /^hello_hello\.[123]\.\w{12}@dev-node-[12]\s+\| hello from task hello$/m;
  await expect
    .poll(async () => (await capture(['service', 'logs', '--tail', '1', 'hello_hello'])).stdout, {
      timeout: 30_000,
      interval: 500,
    })
    .toMatch(line);
  const tail = await capture(['service', 'logs', '--tail', '1', '--no-task-ids', '--timestamps', 'hello_hello']);
  expect(tail.code).toBe(0);
  const shown = tail.stdout.trim().split('\n');
  expect(shown.length).toBeGreaterThanOrEqual(1);
  expect(shown.length).toBeLessThanOrEqual(3);
  for (const l of shown) {
    expect(l).toMatch(/^hello_hello\.[123]@dev-node-[12]\s+\| \d{4}-\d\d-\d\dT[\d:.]+Z hello from task hello$/);
  }

  const unknown = await capture(['service', 'logs', 'hello_nope']);
  expect(unknown.code).toBe(1);
  expect(unknown.output).toContain('no service or task "hello_nope"');

  // -f keeps printing until Ctrl-C, which ends it cleanly.
  const follow = spawn(bin, ['service', 'logs', '-f', '--tail', '0', 'hello_hello'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let followed = '';
  follow.stdout?.on('data', (d: Buffer) => {
    followed += d.toString();
  });
  follow.stderr?.on('data', (d: Buffer) => {
    followed += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
  await expect.poll(() => followed, { timeout: 20_000, interval: 200 }).toMatch(line);
  follow.kill('SIGINT');
  expect(await exited, followed).toBe(0);
}
