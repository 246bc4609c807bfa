import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { connectEtcd, prefixEnd, ROOT } from '@flotilla/store';
import { startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `flotilla secret` and `flotilla config` from the built CLI, against a manager process on loopback: content
// piped on standard input, listed and inspected without it, a config shown with --pretty, nothing in etcd's raw
// values, and everything still there after the manager starts again.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');
const PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;

let etcd: TestServer;
let client: Etcd3;
let manager: ChildProcess | undefined;
const dirs: { path: string; remove(): void }[] = [];
const dir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d.path;
};
const configDir = dir('e2e-secrets-cli');
const stateDir = dir('e2e-secrets-manager');

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
});

afterAll(async () => {
  await stopManager();
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

async function startManager(): Promise<void> {
  let output = '';
  manager = spawn(bin, ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', stateDir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: configDir },
  });
  manager.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  manager.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  await expect.poll(() => output, { timeout: 20_000 }).toMatch(/leading the cluster/);
}

async function stopManager(): Promise<void> {
  if (manager && manager.exitCode === null) {
    const exited = new Promise((r) => manager?.once('exit', r));
    manager.kill('SIGTERM');
    await exited;
  }
  manager = undefined;
}

function cli(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; output: string }> {
  const child = spawn(bin, args, {
    cwd: root,
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: configDir },
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
  let stdout = '';
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, output })));
}

describe('secrets and configs from the built CLI', () => {
  it('takes content on stdin, never shows a secret, keeps etcd free of it, and survives a restart', async () => {
    await startManager();
    const created = await cli(['secret', 'create', 'db_password', '-'], PASSWORD);
    expect(created.code, created.output).toBe(0);
    const id = created.stdout.trim();
    const config = await cli(['config', 'create', 'app.conf', '-', '--label', 'team=web'], 'listen 8080\n');
    expect(config.code, config.output).toBe(0);

    const ls = await cli(['secret', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`${id}\\s+db_password\\s+1`));
    const inspect = await cli(['secret', 'inspect', 'db_password']);
    expect(JSON.parse(inspect.stdout)[0]).toMatchObject({ id, name: 'db_password', size: PASSWORD.length });
    for (const shown of [created, ls, inspect]) expect(shown.output).not.toContain(PASSWORD);
    expect((await cli(['secret', 'inspect', '--pretty', 'db_password'])).code).toBe(2);

    const raw = await client.kv.range({ key: Buffer.from(ROOT), range_end: Buffer.from(prefixEnd(ROOT)) });
    expect(raw.kvs.filter((kv) => kv.key.toString().startsWith(`${ROOT}files/`))).toHaveLength(2);
    for (const kv of raw.kvs) {
      expect(kv.value.includes(Buffer.from(PASSWORD))).toBe(false);
      expect(kv.value.includes(Buffer.from('listen 8080'))).toBe(false);
    }

    await stopManager();
    await startManager();
    const pretty = await cli(['config', 'inspect', '--pretty', 'app.conf']);
    expect(pretty.code, pretty.output).toBe(0);
    expect(pretty.stdout).toContain(' - team=web');
    expect(pretty.stdout).toContain('Data:\nlisten 8080\n');
    const removed = await cli(['secret', 'rm', 'db_password']);
    expect(removed).toMatchObject({ code: 0, stdout: 'db_password\n' });
    expect((await cli(['secret', 'ls', '-q'])).stdout).toBe('');
  });
});
