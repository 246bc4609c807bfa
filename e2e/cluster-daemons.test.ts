import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { NodeStatus_State } from '@flotilla/api';
import { connectEtcd, Store } from '@flotilla/store';
import { ManagedProcess, startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built `flotilla` command as an operator runs it: a manager process, a join token read from its state
// directory, and an agent process that joins and stays ready.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');

let etcd: TestServer;
let client: Etcd3;
const children: ChildProcess[] = [];
const dirs: { path: string; remove(): void }[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  client?.close();
  await etcd?.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function capture(args: string[]): Promise<{ code: number | null; output: string }> {
  const r = run(args);
  const code = await r.exited;
  return { code, output: r.output() };
}

describe('flotilla manager and agent processes', () => {
  it('a manager creates the cluster, an agent joins with the printed token and becomes ready, both stop on SIGTERM', async () => {
    const managerDir = tempDir('e2e-manager');
    const agentDir = tempDir('e2e-agent');
    dirs.push(managerDir, agentDir);
    const manager = run([
      'manager',
      'start',
      '--etcd',
      etcd.url,
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      managerDir.path,
    ]);
    await expect.poll(() => manager.output(), { timeout: 20_000 }).toMatch(/listening on 127\.0\.0\.1:\d+/);
    const address = /listening on (127\.0\.0\.1:\d+)/.exec(manager.output())?.[1] as string;

    const token = await capture(['join-token', 'worker', '-q', '--state-dir', managerDir.path]);
    expect(token.code).toBe(0);
    expect(token.output.trim()).toMatch(/^FLTKN-1-[0-9a-f]{64}-[0-9a-z]{32}$/);

    const agent = run([
      'agent',
      'start',
      '--join',
      address,
      '--token',
      token.output.trim(),
      '--state-dir',
      agentDir.path,
    ]);
    await expect.poll(() => agent.output(), { timeout: 20_000 }).toMatch(/node (\w+) \(worker\) started/);
    const nodeId = /node (\w+) \(worker\) started/.exec(agent.output())?.[1] as string;
    const store = new Store(client);
    await expect
      .poll(async () => (await store.get('nodes', nodeId))?.value.status?.state, { timeout: 10_000 })
      .toBe(NodeStatus_State.STATE_READY);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    // Restarted without the token, the agent rejoins with the credentials it kept.
    const again = run(['agent', 'start', '--state-dir', agentDir.path]);
    await expect.poll(() => again.output(), { timeout: 20_000 }).toContain(`node ${nodeId} (worker) started`);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    manager.child.kill('SIGTERM');
    expect(await manager.exited).toBe(0);
  });

  it('bad usage exits 2; a wrong token exits 1 with the reason', async () => {
    const dir = tempDir('e2e-bad');
    dirs.push(dir);
    expect((await capture(['agent', 'start', '--state-dir', dir.path, '--join', '127.0.0.1:1'])).code).toBe(2);
    const badToken = await capture([
      'agent',
      'start',
      '--state-dir',
      dir.path,
      '--join',
      '127.0.0.1:1',
      '--token',
      'nope',
    ]);
    expect(badToken.code).toBe(1);
    expect(badToken.output).toContain('not a Flotilla join token');
  });
});
