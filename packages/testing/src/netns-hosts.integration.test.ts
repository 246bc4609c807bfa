import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ManagedProcess } from '@flotilla/devhosts';
import { runPrefix } from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetnsHosts, type NetnsHost, type NetnsHosts, sweepNetnsHosts } from './netns-hosts.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('netns-hosts integration tests skipped: network namespaces, veths and bridges need root');

const ping = existsSync('/usr/bin/ping') || existsSync('/bin/ping') ? ['ping'] : ['busybox', 'ping'];
const pingFrom = (host: NetnsHost, address: string) =>
  host.exec(ping[0] as string, [...ping.slice(1), '-c1', '-W2', address], { timeoutMs: 10_000 });

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['-json', 'netns', 'list']);
  return stdout.trim() ? (JSON.parse(stdout) as { name: string }[]).map((n) => n.name) : [];
}

async function linkNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['-json', 'link', 'show']);
  return (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname);
}

const recordPath = (set: NetnsHosts) => `/tmp/flt-netns-${set.subnet.split('/')[0]}.json`;

async function expectGone(set: NetnsHosts): Promise<void> {
  const namespaces = await netnsNames();
  for (const host of set.hosts) expect(namespaces).not.toContain(host.netns);
  const links = await linkNames();
  expect(links).not.toContain(set.bridge);
  for (const host of set.hosts) expect(links).not.toContain(host.veth);
  // The record is gone, unless a parallel run has claimed the freed subnet meanwhile (its names differ).
  const path = recordPath(set);
  if (existsSync(path)) expect(JSON.parse(readFileSync(path, 'utf8')).bridge).not.toBe(set.bridge);
}

/** The PID of a process that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe.skipIf(process.getuid?.() !== 0)('netns hosts (root only)', () => {
  const made: NetnsHosts[] = [];
  let set: NetnsHosts;
  let h1: NetnsHost;
  let h2: NetnsHost;
  let h3: NetnsHost;

  beforeAll(async () => {
    set = await createNetnsHosts({ count: 3 });
    made.push(set);
    [h1, h2, h3] = set.hosts as [NetnsHost, NetnsHost, NetnsHost];
    if (set.bridgeNetfilter) console.warn('bridge-nf-call-iptables is 1: bridged traffic passes iptables FORWARD');
  });

  afterAll(async () => {
    await ManagedProcess.stopAll();
    for (const s of made) await s.close();
  });

  it('names and addresses the hosts inside 198.18.0.0/15, with short link names and a record', async () => {
    expect(set.subnet).toMatch(/^198\.1[89]\.\d+\.0\/24$/);
    const base = set.gateway.split('.').slice(0, 3).join('.');
    expect(set.gateway).toBe(`${base}.1`);
    expect(set.hosts.map((h) => h.address)).toEqual([`${base}.11`, `${base}.12`, `${base}.13`]);
    expect(set.hosts.map((h) => h.name)).toEqual(['h1', 'h2', 'h3']);
    for (const name of [set.bridge, ...set.hosts.map((h) => h.veth)]) expect(name.length).toBeLessThanOrEqual(15);
    expect(h1.prefix).toEqual(['nsenter', `--net=/run/netns/${h1.netns}`, '--']);
    expect(await netnsNames()).toEqual(expect.arrayContaining(set.hosts.map((h) => h.netns)));
    const record = JSON.parse(readFileSync(recordPath(set), 'utf8'));
    expect(record).toMatchObject({ pid: process.pid, bridge: set.bridge, namespaces: set.hosts.map((h) => h.netns) });
  });

  it('sets up each namespace: lo and eth0 up, the address, a default route via the gateway, ip_forward on', async () => {
    for (const host of set.hosts) {
      const links = JSON.parse(await host.exec('ip', ['-json', 'addr', 'show'])) as {
        ifname: string;
        operstate: string;
        flags: string[];
        addr_info: { family: string; local: string }[];
      }[];
      expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
      const eth0 = links.find((l) => l.ifname === 'eth0');
      expect(eth0?.flags).toContain('UP');
      expect(eth0?.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)).toEqual([host.address]);
      expect(links.find((l) => l.ifname === 'lo')?.flags).toContain('UP');
      const routes = JSON.parse(await host.exec('ip', ['-json', 'route', 'show', 'default'])) as { gateway: string }[];
      expect(routes.map((r) => r.gateway)).toEqual([set.gateway]);
      expect((await host.exec('sysctl', ['-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
    }
  });

  it('lets every host ping the other two and the gateway', async () => {
    for (const from of set.hosts) {
      for (const to of set.hosts) {
        if (to !== from) expect(await pingFrom(from, to.address)).toMatch(/1 (packets )?received/);
      }
      expect(await pingFrom(from, set.gateway)).toMatch(/1 (packets )?received/);
    }
  });

  it('carries TCP from h1 to a server inside h2', async () => {
    const script =
      `require('node:net').createServer((s) => s.end('hello ' + s.remoteAddress + '\\n'))` +
      `.listen(7000, '${h2.address}', () => console.log('listening'))`;
    const server = await ManagedProcess.start({
      name: 'tcp server in h2',
      command: h2.prefix[0] as string,
      args: [...h2.prefix.slice(1), process.execPath, '-e', script],
    });
    try {
      await eventually(async () => {
        if (!server.log.includes('listening')) throw new Error(`server not listening yet:\n${server.log}`);
      });
      const reply = await h1.exec('busybox', ['nc', '-w', '5', h2.address, '7000'], { timeoutMs: 10_000 });
      expect(reply.trim()).toBe(`hello ${h1.address}`);
    } finally {
      await server.stop();
    }
  });

  it('cut() makes h1 unreachable and restore() brings it back', async () => {
    await h1.cut();
    try {
      await expect(pingFrom(h2, h1.address)).rejects.toThrow(/exit 1/);
      await expect(pingFrom(h1, set.gateway)).rejects.toThrow(/exit 1/);
      // The others still reach each other.
      expect(await pingFrom(h2, h3.address)).toMatch(/1 (packets )?received/);
    } finally {
      await h1.restore();
    }
    expect(await eventually(() => pingFrom(h2, h1.address))).toMatch(/1 (packets )?received/);
  });

  it('rejects exec with the command and its stderr on a non-zero exit', async () => {
    await expect(h1.exec('ip', ['link', 'show', 'nosuchlink'])).rejects.toThrow(
      /nsenter --net=\/run\/netns\/.* -- ip link show nosuchlink: exit 1: Device "nosuchlink" does not exist/,
    );
    expect(await h1.exec('busybox', ['cat'], { input: 'through stdin' })).toBe('through stdin');
  });

  it('gives parallel sets different subnets and refuses a subnet in use', async () => {
    const [a, b] = await Promise.all([createNetnsHosts({ count: 1 }), createNetnsHosts({ count: 1, mtu: 1400 })]);
    made.push(a, b);
    expect(new Set([set.subnet, a.subnet, b.subnet]).size).toBe(3);
    expect(a.bridge).not.toBe(b.bridge);
    const b1 = b.hosts[0] as NetnsHost;
    const eth0 = JSON.parse(await b1.exec('ip', ['-json', 'link', 'show', 'eth0'])) as { mtu: number }[];
    expect(eth0[0]?.mtu).toBe(1400);
    await expect(createNetnsHosts({ count: 1, subnet: a.subnet })).rejects.toThrow(/in use/);
    await expect(createNetnsHosts({ count: 1, subnet: '10.0.0.0/24' })).rejects.toThrow(/inside 198\.18\.0\.0\/15/);
    await a.close();
    await b.close();
    await expectGone(a);
    await expectGone(b);
  });

  it('close() removes namespaces, links and the record, and can be called twice', async () => {
    const s = await createNetnsHosts({ count: 2 });
    made.push(s);
    expect(existsSync(recordPath(s))).toBe(true);
    await s.close();
    await s.close();
    await expectGone(s);
  });

  it('sweepNetnsHosts() removes a set whose owner process died, and leaves live sets alone', async () => {
    const s = await createNetnsHosts({ count: 2 });
    made.push(s);
    const path = recordPath(s);
    const record = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...record, pid: await deadPid() }));
    await sweepNetnsHosts();
    await expectGone(s);
    // The live set is untouched.
    expect(await netnsNames()).toEqual(expect.arrayContaining(set.hosts.map((h) => h.netns)));
    expect(await linkNames()).toContain(set.bridge);
    expect(existsSync(recordPath(set))).toBe(true);
    await s.close(); // nothing left to remove
  });

  it('sweepNetnsHosts() removes namespaces and links named by a dead process without a record', async () => {
    const pid = await deadPid();
    const pid36 = pid.toString(36).padStart(5, '0');
    const ns = `${runPrefix()}-${pid}-n511-h1`;
    const bridge = `fu${pid36}zz`;
    const veth = `fv${pid36}zz01`;
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    await run('ip', ['link', 'add', 'name', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run('ip', ['link', 'set', veth, 'master', bridge]);
    try {
      await sweepNetnsHosts();
      expect(await netnsNames()).not.toContain(ns);
      const links = await linkNames();
      expect(links).not.toContain(bridge);
      expect(links).not.toContain(veth);
      expect(await netnsNames()).toEqual(expect.arrayContaining(set.hosts.map((h) => h.netns)));
    } finally {
      for (const args of [
        ['link', 'del', veth],
        ['link', 'del', bridge],
        ['netns', 'del', ns],
      ]) {
        await run('ip', args).catch(() => undefined);
      }
    }
  });
});
