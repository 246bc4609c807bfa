import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { caFingerprint, issuedBy } from '@flotilla/pki';
import { connectEtcd } from '@flotilla/store';
import { type DaemonProcess, freePort, startDaemon, tempDir } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// Managers as an operator runs them, with no etcd of their own making: each `flotilla manager start` brings its
// etcd member (a child process), the first makes the cluster, two more join it. On loopback, distinct ports.
const dirs: { path: string; remove(): void }[] = [];
const daemons: DaemonProcess[] = [];

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop(10_000)));
  for (const d of dirs) d.remove();
});

function dir(label: string): string {
  const d = tempDir(`e2e-embedded-etcd-${label}`);
  dirs.push(d);
  return d.path;
}

interface Manager {
  daemon: DaemonProcess;
  address: string;
  http: string;
  stateDir: string;
  env: NodeJS.ProcessEnv;
  /** Its etcd member's process, and where it serves clients. */
  etcdPid: number;
  etcdClient: string;
}

async function startManager(label: string, join: string[] = []): Promise<Manager> {
  const stateDir = dir(label);
  const env = { ...process.env, FLOTILLA_CONFIG_DIR: dir(`${label}-cli`), LOG_LEVEL: 'warn' };
  const etcdClient = `127.0.0.1:${await freePort()}`;
  const etcd = ['--etcd-listen-client', etcdClient, '--etcd-listen-peer', `127.0.0.1:${await freePort()}`];
  const args = ['manager', 'start', '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--election-ttl', '2'];
  const daemon = startDaemon(bin, [...args, ...etcd, ...join], { cwd: root, env });
  daemons.push(daemon);
  const address = (await daemon.waitFor(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/, 60_000))[1] as string;
  const http = (await daemon.waitFor(/http:\/\/(127\.0\.0\.1:\d+)\/healthz/))[1] as string;
  const etcdPid = childrenOf(daemon.child.pid as number).find((p) => comm(p) === 'etcd');
  if (!etcdPid) throw new Error(`no etcd process under manager ${daemon.child.pid}`);
  return { daemon, address, http, stateDir, env, etcdPid, etcdClient };
}

const pems = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** How many voting members the etcd cluster has, asked of this manager's member with its own certificate. */
async function voters(m: Manager): Promise<number> {
  const etcd = path.join(m.stateDir, 'etcd');
  const client = connectEtcd({
    endpoints: [`https://${m.etcdClient}`],
    tls: {
      caFile: path.join(etcd, 'ca.crt'),
      certFile: path.join(etcd, 'member.crt'),
      keyFile: path.join(etcd, 'member.key'),
    },
  });
  try {
    const { members } = await client.cluster.memberList({});
    return members.filter((member) => member.name !== '' && !member.isLearner).length;
  } finally {
    client.close();
  }
}

async function leading(m: Manager): Promise<boolean> {
  try {
    const res = await fetch(`http://${m.http}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return ((await res.json()) as { leader?: boolean }).leader === true;
  } catch {
    return false;
  }
}

describe('managers with their own etcd members', () => {
  it('three managers make a three-member etcd; the leader killed with SIGKILL takes its member along, and the other two elect a leader and take writes', async () => {
    const first = await startManager('m1');
    const token = (await runFlotilla(['join-token', 'manager', '-q'], first.env)).stdout.trim();
    expect(token).not.toBe('');
    const others = [
      await startManager('m2', ['--join', first.address, '--token', token]),
      await startManager('m3', ['--join', first.address, '--token', token]),
    ];
    const managers = [first, ...others];

    expect(await voters(first)).toBe(3);
    // An embedded member is reached over mutual TLS: no plaintext warning.
    const inspect = await runFlotilla(['cluster', 'inspect'], first.env);
    expect(inspect.code, inspect.output).toBe(0);
    expect(inspect.output).not.toContain('plaintext');

    await expect.poll(async () => (await Promise.all(managers.map(leading))).filter(Boolean).length).toBe(1);
    const flags = await Promise.all(managers.map(leading));
    const killed = managers[flags.indexOf(true)] as Manager;
    const survivors = managers.filter((m) => m !== killed);

    killed.daemon.child.kill('SIGKILL');
    await killed.daemon.exited;
    // No orphan: the member dies with its manager.
    await expect.poll(() => comm(killed.etcdPid), { timeout: 5_000 }).toBe('');

    await expect
      .poll(async () => (await Promise.all(survivors.map(leading))).filter(Boolean).length, { timeout: 30_000 })
      .toBe(1);
    // A write through either survivor: the token rotates, so the old one stops working.
    const via = survivors[0] as Manager;
    const before = (await runFlotilla(['join-token', 'worker', '-q'], via.env)).stdout.trim();
    const rotated = await runFlotilla(['join-token', 'worker', '--rotate', '-q'], via.env);
    expect(rotated.code, rotated.output).toBe(0);
    expect(rotated.stdout.trim()).not.toBe(before);
    for (const m of survivors) expect(comm(m.etcdPid)).toBe('etcd');
  });

  it('cluster ca --rotate moves the etcd members to the new CA one at a time; a member started after it is taken in', async () => {
    // The first cluster's managers are done with: stopped, so that they take no share of the two cores.
    await Promise.all(daemons.map((d) => d.stop(10_000)));
    const first = await startManager('r1');
    const token = (await runFlotilla(['join-token', 'manager', '-q'], first.env)).stdout.trim();
    const join = ['--join', first.address, '--token', token];
    const managers = [first, await startManager('r2', join), await startManager('r3', join)];
    const inspect = async () => JSON.parse((await runFlotilla(['cluster', 'inspect'], first.env)).stdout || '{}');
    const before = (await inspect()).ca.fingerprint as string;

    const started = await runFlotilla(['cluster', 'ca', '--rotate'], first.env);
    expect(started.code, started.output).toBe(0);
    const fingerprint = JSON.parse(started.stdout).rotating.newFingerprint as string;
    expect(fingerprint).not.toBe(before);
    // Asked every half second (the CLI renews its certificate during the rotation), until it has ended.
    await expect
      .poll(async () => (await inspect()).ca?.fingerprint, { timeout: 120_000, interval: 500 })
      .toBe(fingerprint);
    // Then each member starts again trusting the new CA alone.
    const trusted = (m: Manager) =>
      pems(readFileSync(path.join(m.stateDir, 'etcd', 'ca.crt'), 'utf8')).map((pem) => caFingerprint(pem));
    const etcdPid = (m: Manager) => childrenOf(m.daemon.child.pid as number).find((p) => comm(p) === 'etcd');
    await expect
      .poll(() => managers.map(trusted), { timeout: 30_000 })
      .toEqual([[fingerprint], [fingerprint], [fingerprint]]);
    // The same managers, each with an etcd process started again.
    for (const m of managers) {
      expect(comm(m.daemon.child.pid as number)).not.toBe('');
      await expect.poll(() => etcdPid(m) !== undefined && etcdPid(m) !== m.etcdPid, { timeout: 30_000 }).toBe(true);
    }

    // A member killed after the rotation is started again by its manager with the new CA's certificate, and its
    // peers take it: the cluster takes writes through every manager.
    const victim = managers[1] as Manager;
    const killed = etcdPid(victim) as number;
    process.kill(killed, 'SIGKILL');
    // Its manager starts it again (after a backoff); until then the other managers' members serve the cluster.
    await expect
      .poll(() => etcdPid(victim) !== undefined && etcdPid(victim) !== killed, { timeout: 30_000 })
      .toBe(true);
    for (const m of managers) {
      await expect
        .poll(async () => (await runFlotilla(['join-token', 'worker', '--rotate', '-q'], m.env)).code, {
          timeout: 30_000,
          interval: 500,
        })
        .toBe(0);
    }
    const etcd = path.join(victim.stateDir, 'etcd');
    expect(
      issuedBy(
        readFileSync(path.join(etcd, 'member.crt'), 'utf8'),
        pems(readFileSync(path.join(etcd, 'ca.crt'), 'utf8'))[0] as string,
      ),
    ).toBe(true);
    // Asked of the member started again, once it serves clients.
    await expect.poll(() => voters(victim).catch(() => -1), { timeout: 30_000, interval: 500 }).toBe(3);
  }, 300_000);

  it('says which flag is wrong: a malformed address, a port in use, TLS files without --etcd', async () => {
    const stateDir = dir('bad');
    const start = (more: string[]) =>
      runFlotilla(['manager', 'start', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...more], process.env);
    const malformed = await start(['--etcd-listen-client', 'nowhere']);
    expect(malformed.code).toBe(2);
    expect(malformed.output).toContain('--etcd-listen-client');

    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      // Port 0 is no address to give other members.
      const portZero = await start(['--etcd-listen-client', '127.0.0.1:0']);
      expect(portZero.code).toBe(2);
      expect(portZero.output).toContain('--etcd-listen-client');
      const inUse = await start([
        '--etcd-listen-client',
        `127.0.0.1:${await freePort()}`,
        '--etcd-listen-peer',
        `127.0.0.1:${port}`,
      ]);
      expect(inUse.code).toBe(1);
      expect(inUse.output).toContain(`--etcd-listen-peer 127.0.0.1:${port}: the port is in use`);
    } finally {
      holder.close();
    }
    const tlsAlone = await start(['--etcd-cacert', '/nonexistent/ca.crt']);
    expect(tlsAlone.code).toBe(2);
    expect(tlsAlone.output).toContain('--etcd-cacert');
  });
});
