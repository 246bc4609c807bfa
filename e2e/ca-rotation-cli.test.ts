import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Node, NodeStatus_State } from '@flotilla/api';
import { caFingerprint, issuedBy } from '@flotilla/pki';
import { connectEtcd, Store } from '@flotilla/store';
import { startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `cluster ca --rotate` from the built CLI, against a manager process on loopback: the progress in `cluster
// inspect`, a second rotation refused, and a CLI configuration kept on another machine (a copy) that renews its
// operator certificate when it talks to a manager during the rotation, and so still works after it; a copy that
// was not used during the rotation is refused after it, with a clear error.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');

let etcd: TestServer;
let client: Etcd3;
let manager: ChildProcess | undefined;
const dirs: { path: string; remove(): void }[] = [];
const dir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d.path;
};
const configDir = dir('e2e-rot-cli');

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
});

afterAll(async () => {
  if (manager && manager.exitCode === null) {
    manager.kill('SIGTERM');
    await new Promise((r) => manager?.once('exit', r));
  }
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

function cli(args: string[], config = configDir): Promise<{ code: number | null; stdout: string; output: string }> {
  const child = spawn(bin, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: config },
  });
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

const certificates = (pem: string) => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
const pems = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

describe('cluster ca --rotate from the CLI', () => {
  it('shows progress, refuses a second rotation, and a CLI copy used during the rotation works after it', async () => {
    let output = '';
    manager = spawn(
      bin,
      ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dir('e2e-rot-manager')],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOTILLA_CONFIG_DIR: configDir } },
    );
    manager.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    manager.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await expect.poll(() => output, { timeout: 20_000 }).toMatch(/listening on 127\.0\.0\.1:\d+/);
    const before = JSON.parse((await cli(['cluster', 'inspect'])).stdout);
    expect(before.ca.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(before.ca.rotation).toBeUndefined();
    // Two copies of the CLI's configuration, as on other machines: one is used during the rotation, one is not.
    const used = dir('e2e-rot-used');
    const unused = dir('e2e-rot-unused');
    cpSync(configDir, used, { recursive: true });
    cpSync(configDir, unused, { recursive: true });
    // A node that never renews (a record with no agent): the rotation waits for it until --force.
    await new Store(client).create(
      'nodes',
      'rotwaiting1',
      Node.fromPartial({ id: 'rotwaiting1', status: { state: NodeStatus_State.STATE_READY } }),
    );

    expect((await cli(['cluster', 'ca'])).code).toBe(2);
    const started = await cli(['cluster', 'ca', '--rotate']);
    expect(started.code, started.output).toBe(0);
    const newFingerprint = JSON.parse(started.stdout).rotating.newFingerprint as string;
    expect(newFingerprint).not.toBe(before.ca.fingerprint);
    const again = await cli(['cluster', 'ca', '--rotate']);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/a CA rotation is under way .*cluster inspect.*--force/);

    // The copy in use: a call during the rotation renews its certificate from the new CA and keeps both CAs.
    await expect
      .poll(async () => JSON.parse((await cli(['cluster', 'inspect'], used)).stdout).ca.rotation?.progress, {
        timeout: 10_000,
      })
      .toBe('1 of 2 renewed');
    const inspected = JSON.parse((await cli(['cluster', 'inspect'], used)).stdout);
    expect(inspected.ca.rotation).toMatchObject({ newFingerprint, pending: ['rotwaiting1'] });
    const usedCert = readFileSync(path.join(used, 'operator.crt'), 'utf8');
    expect(certificates(usedCert)).toBe(2);
    expect(certificates(readFileSync(path.join(used, 'ca.crt'), 'utf8'))).toBe(2);

    const ended = await cli(['cluster', 'ca', '--rotate', '--force']);
    expect(ended.code, ended.output).toBe(0);
    await expect
      .poll(async () => JSON.parse((await cli(['cluster', 'inspect'])).stdout || '{}').ca?.fingerprint, {
        timeout: 10_000,
      })
      .toBe(newFingerprint);
    // The manager's own CLI configuration trusts the new CA (alone, or with the old one when this CLI renewed
    // last, during the rotation), and holds a certificate of it.
    await expect
      .poll(() => {
        const newRoot = pems(readFileSync(path.join(configDir, 'ca.crt'), 'utf8')).find(
          (pem) => caFingerprint(pem) === newFingerprint,
        );
        return newRoot !== undefined && issuedBy(readFileSync(path.join(configDir, 'operator.crt'), 'utf8'), newRoot);
      })
      .toBe(true);
    // The copy used during the rotation still works; the one that was not is refused with the reason.
    const after = await cli(['cluster', 'inspect'], used);
    expect(after.code, after.output).toBe(0);
    expect(JSON.parse(after.stdout).ca.fingerprint).toBe(newFingerprint);
    const stale = await cli(['cluster', 'inspect'], unused);
    expect(stale.code).toBe(1);
    expect(stale.output).toMatch(/flotilla: /);
    expect((await cli(['cluster', 'ca', '--rotate', '--force'])).output).toMatch(/no CA rotation is under way/);
  }, 120_000);
});
