import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeStatus_State } from '@flotilla/api';
import { CertificateAuthority, certificateLife, createKeyAndCsr, readIdentity } from '@flotilla/pki';
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

// The manager writes the operator's CLI credentials here, and the CLI reads them from here.
const configDir = tempDir('e2e-cli-config');
dirs.push(configDir);

function run(
  args: string[],
  config = configDir.path,
): {
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(bin, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: config },
  });
  children.push(child);
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, stdout: () => stdout, exited };
}

async function capture(
  args: string[],
  config = configDir.path,
): Promise<{ code: number | null; output: string; stdout: string }> {
  const r = run(args, config);
  const code = await r.exited;
  return { code, output: r.output(), stdout: r.stdout() };
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

    const token = await capture(['join-token', 'worker', '-q']);
    expect(token.code).toBe(0);
    expect(token.stdout.trim()).toMatch(/^FLTKN-1-[0-9a-f]{64}-[0-9a-z]{32}$/);

    const agent = run([
      'agent',
      'start',
      '--join',
      address,
      '--token',
      token.stdout.trim(),
      '--state-dir',
      agentDir.path,
      '--executor',
      'process',
    ]);
    await expect.poll(() => agent.output(), { timeout: 20_000 }).toMatch(/node (\w+) \(worker\) started/);
    const nodeId = /node (\w+) \(worker\) started/.exec(agent.output())?.[1] as string;
    const store = new Store(client);
    await expect
      .poll(async () => (await store.get('nodes', nodeId))?.value.status?.state, { timeout: 10_000 })
      .toBe(NodeStatus_State.STATE_READY);

    // Both processes answer /healthz and /metrics on their local HTTP port.
    const httpOf = (text: string) => /health and metrics on http:\/\/([\d.]+:\d+)\/healthz/.exec(text)?.[1];
    const managerHttp = httpOf(manager.output()) as string;
    const agentHttp = httpOf(agent.output()) as string;
    expect((await fetch(`http://${agentHttp}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${managerHttp}/healthz`)).status).toBe(200);
    const scrape = async () => (await fetch(`http://${managerHttp}/metrics`)).text();
    await expect.poll(scrape, { timeout: 5_000 }).toMatch(/^flotilla_heartbeats_total [1-9]/m);
    const scraped = await scrape();
    expect(scraped).toMatch(/^flotilla_sessions 1$/m);
    expect(scraped).toMatch(/^flotilla_store_call_seconds_count\{op="get"\} [1-9]/m);
    expect(await (await fetch(`http://${agentHttp}/metrics`)).text()).toMatch(/^flotilla_agent_connected 1$/m);
    // Logs are pino JSON lines with a component field.
    expect(manager.output()).toMatch(/^\{.*"component":"manager".*"msg":"manager started"/m);

    // The operator sees and manages the node through the control API.
    const listed = await capture(['node', 'ls', '--format', 'json']);
    expect(listed.code).toBe(0);
    const managerId = /manager (\w+) of cluster/.exec(manager.output())?.[1] as string;
    // The manager is listed with the nodes, as the leader, told apart as running no tasks.
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { ID: nodeId, Status: 'ready', ManagerStatus: '', RunsTasks: true },
      { ID: managerId, Status: 'ready', ManagerStatus: 'Leader', RunsTasks: false },
    ]);
    const table = await capture(['node', 'ls']);
    expect(table.output).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+ROLE\s+MANAGER STATUS/m);
    expect(table.output).toMatch(new RegExp(`${nodeId}\\s+\\S+\\s+ready\\s+active\\s+worker`));
    expect(table.output).toMatch(new RegExp(`${managerId}\\s+\\S+\\s+ready\\s+-\\s+manager\\s+Leader`));
    // One manager: the warning says it tolerates no failure (on stderr, not in the table).
    expect(table.stdout).not.toContain('warning');
    expect(table.output).toMatch(/warning: the cluster has one manager/);
    expect(
      (await capture(['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', nodeId.slice(0, 8)])).code,
    ).toBe(0);
    const inspected = JSON.parse((await capture(['node', 'inspect', '--format', 'raw', nodeId])).stdout);
    expect(inspected.spec).toMatchObject({ availability: 'AVAILABILITY_DRAIN', labels: { zone: 'a' } });
    const refused = await capture(['node', 'rm', nodeId]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('is ready');

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    // Restarted without the token, the agent rejoins with the credentials it kept.
    const again = run(['agent', 'start', '--state-dir', agentDir.path, '--executor', 'process']);
    await expect.poll(() => again.output(), { timeout: 20_000 }).toContain(`node ${nodeId} (worker) started`);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    // A rotated token replaces the old one at once.
    const rotated = await capture(['join-token', 'worker', '--rotate', '-q']);
    expect(rotated.stdout.trim()).not.toBe(token.stdout.trim());
    const stale = tempDir('e2e-stale');
    dirs.push(stale);
    const late = await capture([
      'agent',
      'start',
      '--join',
      address,
      '--token',
      token.stdout.trim(),
      '--state-dir',
      stale.path,
      '--executor',
      'process',
    ]);
    expect(late.code).toBe(1);
    expect(late.output).toContain('not valid');
    // Removed, the node's certificate no longer opens a session.
    expect((await capture(['node', 'rm', '--force', nodeId])).code).toBe(0);
    const left = JSON.parse((await capture(['node', 'ls', '--format', 'json'])).stdout) as { RunsTasks: boolean }[];
    expect(left.filter((n) => n.RunsTasks)).toEqual([]);
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

  it('operator certificates: --cert-expiry, the CLI renews its certificate past half its life, revoke-operator', async () => {
    const ownEtcd = await startEtcd();
    const managerDir = tempDir('e2e-certs-manager');
    const config = tempDir('e2e-certs-cli');
    const short = tempDir('e2e-certs-short');
    dirs.push(managerDir, config, short);
    try {
      const manager = run(
        ['manager', 'start', '--etcd', ownEtcd.url, '--listen', '127.0.0.1:0', '--state-dir', managerDir.path],
        config.path,
      );
      await expect.poll(() => manager.output(), { timeout: 20_000 }).toMatch(/listening on 127\.0\.0\.1:\d+/);
      const tooShort = await capture(['cluster', 'update', '--cert-expiry', '30s'], config.path);
      expect(tooShort.code).toBe(2);
      expect(tooShort.output).toContain('give at least 1m');
      expect((await capture(['cluster', 'update', '--cert-expiry', '1m'], config.path)).code).toBe(0);
      const inspected = JSON.parse((await capture(['cluster', 'inspect'], config.path)).stdout);
      expect(inspected.certExpiry).toBe('1m');
      const ownId = readIdentity(new X509Certificate(readFileSync(path.join(config.path, 'operator.crt')))).nodeId;
      expect(inspected.operator.id).toBe(ownId);

      // A CLI whose certificate is 40 s into a 60 s life: its next command renews it, same operator ID.
      const ca = await CertificateAuthority.load(
        readFileSync(path.join(managerDir.path, 'ca.crt'), 'utf8'),
        readFileSync(path.join(managerDir.path, 'ca.key'), 'utf8'),
      );
      const keys = await createKeyAndCsr();
      const oldCert = await ca.issue({
        csrPem: keys.csrPem,
        nodeId: 'opshort1',
        role: 'operator',
        validityMs: 60_000,
        notBefore: new Date(Date.now() - 40_000),
      });
      for (const f of ['ca.crt', 'manager']) copyFileSync(path.join(config.path, f), path.join(short.path, f));
      writeFileSync(path.join(short.path, 'operator.crt'), oldCert);
      writeFileSync(path.join(short.path, 'operator.key'), keys.keyPem, { mode: 0o600 });
      const used = await capture(['cluster', 'inspect'], short.path);
      expect(used.code).toBe(0);
      expect(JSON.parse(used.stdout).operator.id).toBe('opshort1');
      const renewed = readFileSync(path.join(short.path, 'operator.crt'), 'utf8');
      expect(renewed).not.toBe(oldCert);
      expect(readIdentity(new X509Certificate(renewed))).toMatchObject({ nodeId: 'opshort1', role: 'operator' });
      expect(certificateLife(renewed).notAfterMs).toBeGreaterThan(certificateLife(oldCert).notAfterMs);
      expect(readFileSync(path.join(short.path, 'operator.key'), 'utf8')).not.toBe(keys.keyPem);
      expect(statSync(path.join(short.path, 'operator.key')).mode & 0o777).toBe(0o600);

      // Revoked, the renewed certificate is refused; the other operator goes on.
      expect((await capture(['cluster', 'revoke-operator', 'opshort1'], config.path)).code).toBe(0);
      const refused = await capture(['cluster', 'inspect'], short.path);
      expect(refused.code).toBe(1);
      expect(refused.output).toContain('was revoked');
      expect((await capture(['cluster', 'inspect'], config.path)).code).toBe(0);
      manager.child.kill('SIGTERM');
      expect(await manager.exited).toBe(0);
    } finally {
      await ownEtcd.destroy();
    }
  });
});
