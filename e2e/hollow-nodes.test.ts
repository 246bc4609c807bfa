import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { NodeStatus_State } from '@flotilla/api';
import { connectEtcd, Store } from '@flotilla/store';
import { HollowNodes, ManagedProcess, startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A manager process and 1,000 hollow nodes in this process, each with its own certificate and session.
const COUNT = 1_000;
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');

let etcd: TestServer;
let client: Etcd3;
let manager: ChildProcess;
let output = '';
let hollow: HollowNodes | undefined;
const dirs = [tempDir('hollow-manager'), tempDir('hollow-cli')];

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  manager = spawn(
    bin,
    ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string, LOG_LEVEL: 'warn' },
    },
  );
  manager.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 20_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(output)) {
    if (Date.now() > deadline || manager.exitCode !== null) throw new Error(`the manager did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  hollow?.stop();
  if (manager?.exitCode === null) manager.kill('SIGKILL');
  client?.close();
  await etcd?.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

describe('hollow nodes', () => {
  it(`${COUNT} hollow nodes join over mutual TLS and keep heartbeating without being marked down`, async () => {
    const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
    const token = execFileSync(bin, ['join-token', 'worker', '-q'], {
      env: { ...process.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string },
      encoding: 'utf8',
    }).trim();
    hollow = await HollowNodes.start({ manager: address, token, count: COUNT, joinConcurrency: 32 });
    const store = new Store(client);
    const ready = async () =>
      (await store.list('nodes')).items.filter((n) => n.value.status?.state === NodeStatus_State.STATE_READY).length;
    await expect
      .poll(ready, { timeout: 60_000, interval: 500 })
      .toBe(COUNT)
      .catch(async (err) => {
        const nodes = (await store.list('nodes')).items.filter(
          (n) => n.value.status?.state !== NodeStatus_State.STATE_READY,
        );
        console.log(
          'nodes not ready',
          nodes.map((n) => [n.id, n.value.status?.state, n.value.status?.message, n.value.description?.hostname]),
          'connected',
          hollow?.connected(),
          'joined',
          hollow?.nodes.length,
          output.slice(-2000),
        );
        throw err;
      });
    // Several heartbeat periods later, every node is still ready and connected.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await ready()).toBe(COUNT);
    expect(hollow.connected()).toBe(COUNT);
  }, 300_000);
});
