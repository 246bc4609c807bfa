import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { runFlotilla } from './flotilla-command.js';

// `flotilla dev up` as `npm start` runs it: etcd, a manager and agents as background processes, then a deploy,
// then `dev down`, which must leave nothing running.
const devDir = tempDir('dev-cluster');
const configDir = tempDir('dev-cli');
const env = { ...process.env, FLOTILLA_DEV_DIR: path.join(devDir.path, 'dev'), FLOTILLA_CONFIG_DIR: configDir.path };
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

describe('flotilla dev', () => {
  it('brings up a local cluster, runs the hello example on it, and takes it all down again', async () => {
    const up = await capture(['dev', 'up', '--nodes', '2']);
    expect(up.code, up.output).toBe(0);
    expect(up.stdout).toContain('the dev cluster is up: 1 manager, 2 nodes (process executor');
    const state = JSON.parse(readFileSync(path.join(env.FLOTILLA_DEV_DIR, 'state.json'), 'utf8'));
    pids = state.pids.map((p: { pid: number }) => p.pid);
    expect(pids).toHaveLength(4);
    expect((await capture(['dev', 'up'])).stdout).toContain('already up');

    expect((await capture(['stack', 'deploy', '-c', 'examples/hello/stack.yml', 'hello'])).code).toBe(0);
    await expect
      .poll(async () => (await capture(['service', 'ls'])).stdout, { timeout: 30_000, interval: 500 })
      .toMatch(/hello_hello\s+replicated\s+3\/3/);
    const nodes = JSON.parse((await capture(['node', 'ls', '--format', 'json'])).stdout);
    expect(nodes.map((n: { description: { hostname: string } }) => n.description.hostname).sort()).toEqual([
      'dev-node-1',
      'dev-node-2',
    ]);

    const down = await capture(['dev', 'down']);
    expect(down.stdout).toContain('the dev cluster is down (4 processes stopped');
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(env.FLOTILLA_DEV_DIR)).toBe(false);
    expect((await capture(['dev', 'down'])).stdout).toBe('no dev cluster is up\n');
  });
});
