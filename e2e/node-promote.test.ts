import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectEtcd } from '@flotilla/store';
import { type DaemonProcess, freePort, startDaemon, tempDir } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// `flotilla node promote` as an operator uses it, on loopback: one manager with its own etcd member, two agents
// started with --manager-listen that run tasks (the process executor). Both are promoted (their processes start
// managers with etcd members of their own), one is demoted and promoted again, then the original manager is
// killed: a promoted one leads, the cluster takes writes, and no task process ever stopped.
const dirs: { path: string; remove(): void }[] = [];
const daemons: DaemonProcess[] = [];

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop(15_000)));
  for (const d of dirs) d.remove();
});

function dir(label: string): string {
  const d = tempDir(`e2e-promote-${label}`);
  dirs.push(d);
  return d.path;
}

// The images are made up: deploys do not pin them to digests.
const env = (cliDir: string) => ({
  ...process.env,
  FLOTILLA_CONFIG_DIR: cliDir,
  LOG_LEVEL: 'warn',
  FLOTILLA_RESOLVE_IMAGE: 'never',
});

async function etcdFlags(): Promise<string[]> {
  return [
    '--etcd-listen-client',
    `127.0.0.1:${await freePort()}`,
    '--etcd-listen-peer',
    `127.0.0.1:${await freePort()}`,
  ];
}

interface Agent {
  daemon: DaemonProcess;
  name: string;
  /** Its CLI configuration: written by its manager once it is promoted. */
  env: NodeJS.ProcessEnv;
}

async function startAgent(name: string, manager: string, token: string): Promise<Agent> {
  const agentEnv = env(dir(`${name}-cli`));
  const args = ['agent', 'start', '--state-dir', dir(name), '--join', manager, '--token', token];
  const promotable = ['--manager-listen', `127.0.0.1:${await freePort()}`, ...(await etcdFlags())];
  const daemon = startDaemon(bin, [...args, '--hostname', name, '--executor', 'process', ...promotable], {
    cwd: root,
    env: agentEnv,
  });
  daemons.push(daemon);
  await daemon.waitFor(/it can be promoted: its manager would listen on/, 60_000);
  return { daemon, name, env: agentEnv };
}

/** The processes under `pid`, children and their children. */
function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const child of byParent.get(p) ?? []) {
      out.push(child);
      visit(child);
    }
  };
  visit(pid);
  return out;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The task processes (sleep) an agent runs, and whether it runs an etcd member (its promoted manager's). */
const tasksOf = (a: Agent) => descendants(a.daemon.child.pid as number).filter((p) => comm(p) === 'sleep');
const etcdOf = (a: Agent) => descendants(a.daemon.child.pid as number).filter((p) => comm(p) === 'etcd');

/** The etcd cluster's members, asked through the first manager's member with its certificate. */
async function etcdMembers(stateDir: string, client: string): Promise<string[]> {
  const etcd = path.join(stateDir, 'etcd');
  const c = connectEtcd({
    endpoints: [`https://${client}`],
    tls: {
      caFile: path.join(etcd, 'ca.crt'),
      certFile: path.join(etcd, 'member.crt'),
      keyFile: path.join(etcd, 'member.key'),
    },
  });
  try {
    return (await c.cluster.memberList({})).members.map((m) => m.name);
  } finally {
    c.close();
  }
}

interface Listed {
  description?: { hostname?: string };
  spec?: { role?: string };
  managerStatus?: { leader: boolean; reachability: string; managerId?: string };
}

async function nodeLs(cliEnv: NodeJS.ProcessEnv): Promise<Listed[]> {
  const listed = await runFlotilla(['node', 'ls', '--format', 'raw'], cliEnv);
  if (listed.code !== 0) throw new Error(listed.output);
  return JSON.parse(listed.stdout) as Listed[];
}

const statusOf = async (cliEnv: NodeJS.ProcessEnv, name: string) =>
  (await nodeLs(cliEnv)).find((n) => n.description?.hostname === name)?.managerStatus;

describe('node promote', () => {
  it('promotes agents to managers with their own etcd members; one leads when the original is killed; no task stops', async () => {
    const managerEnv = env(dir('m1-cli'));
    const m1Dir = dir('m1');
    const args = ['manager', 'start', '--listen', '127.0.0.1:0', '--state-dir', m1Dir, '--election-ttl', '2'];
    const m1Etcd = await etcdFlags();
    const m1 = startDaemon(bin, [...args, ...m1Etcd], { cwd: root, env: managerEnv });
    daemons.push(m1);
    const address = (await m1.waitFor(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/, 60_000))[1] as string;
    const token = (await runFlotilla(['join-token', 'worker', '-q'], managerEnv)).stdout.trim();
    const a = await startAgent('node-a', address, token);
    const b = await startAgent('node-b', address, token);

    const stack = path.join(dir('stack'), 'stack.yml');
    writeFileSync(
      stack,
      // The agents run tasks as plain processes: the service allows it.
      'services:\n  sleeper:\n    image: unused\n    command: ["sleep", "600"]\n    deploy:\n      replicas: 4\n' +
        '    x-flotilla: { allow_process_executor: true }\n',
    );
    const deployed = await runFlotilla(['stack', 'deploy', '-c', stack, 'prom'], managerEnv);
    expect(deployed.code, deployed.output).toBe(0);
    await expect.poll(() => tasksOf(a).length + tasksOf(b).length, { timeout: 30_000 }).toBe(4);
    const tasks = [...tasksOf(a), ...tasksOf(b)].sort();

    // An unknown node: refused with what to do.
    const unknown = await runFlotilla(['node', 'promote', 'nowhere'], managerEnv);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain('see flotilla node ls');

    for (const agent of [a, b]) {
      const promoted = await runFlotilla(['node', 'promote', agent.name], managerEnv);
      expect(promoted.code, promoted.output).toBe(0);
      await expect
        .poll(async () => (await statusOf(managerEnv, agent.name))?.reachability, { timeout: 60_000 })
        .toBe('reachable');
      expect(etcdOf(agent)).toHaveLength(1);
    }
    const again = await runFlotilla(['node', 'promote', 'node-a'], managerEnv);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/is a manager already.*flotilla node demote/);
    expect(await etcdMembers(m1Dir, m1Etcd[1] as string)).toHaveLength(3);
    // Three etcd members now: the table shows the node as a manager, and no fault-tolerance warning.
    const table = await runFlotilla(['node', 'ls'], managerEnv);
    // (Leader when etcd under this load let the first manager's election lease lapse: any manager may lead.)
    expect(table.output).toMatch(/node-a\s+ready\s+active\s+manager\s+(Reachable|Leader)/);
    expect(table.output).not.toContain('warning');

    // Demoted: its manager and etcd member stop, the agent runs on with its tasks; then promoted again.
    const demoted = await runFlotilla(['node', 'demote', 'node-b'], managerEnv);
    expect(demoted.code, demoted.output).toBe(0);
    await expect.poll(() => etcdOf(b).length, { timeout: 30_000 }).toBe(0);
    await expect
      .poll(async () => (await statusOf(managerEnv, 'node-b'))?.reachability, { timeout: 10_000 })
      .toBe(undefined);
    // Out of etcd's membership (a member that is gone for good would count towards the quorum for ever).
    expect(await etcdMembers(m1Dir, m1Etcd[1] as string)).toHaveLength(2);
    expect(b.daemon.child.exitCode).toBeNull();
    expect([...tasksOf(a), ...tasksOf(b)].sort()).toEqual(tasks);
    const repromoted = await runFlotilla(['node', 'promote', 'node-b'], managerEnv);
    expect(repromoted.code, repromoted.output).toBe(0);
    await expect
      .poll(async () => (await statusOf(managerEnv, 'node-b'))?.reachability, { timeout: 60_000 })
      .toBe('reachable');

    // The original manager killed: a promoted one leads, through its own CLI configuration, and takes writes.
    m1.child.kill('SIGKILL');
    await m1.exited;
    const leaderOf = async () => {
      for (const agent of [a, b]) {
        const listed = await nodeLs(agent.env).catch(() => []);
        const leader = listed.find((n) => n.managerStatus?.leader);
        if (leader) return leader.description?.hostname;
      }
      return undefined;
    };
    await expect.poll(leaderOf, { timeout: 60_000 }).toMatch(/^node-[ab]$/);
    const scaled = await runFlotilla(['service', 'scale', '--detach', 'prom_sleeper=5'], a.env);
    expect(scaled.code, scaled.output).toBe(0);
    await expect.poll(() => tasksOf(a).length + tasksOf(b).length, { timeout: 30_000 }).toBe(5);
    // Every task process that ran before still runs: none stopped through promotions, a demotion, and a failover.
    const now = [...tasksOf(a), ...tasksOf(b)];
    for (const pid of tasks) expect(now).toContain(pid);
  }, 300_000);

  it('agent start says which flag is wrong: every address for a manager, etcd addresses without --manager-listen', async () => {
    const start = (more: string[]) =>
      runFlotilla(['agent', 'start', '--state-dir', dir('bad'), ...more], env(dir('bad-cli')));
    const everywhere = await start(['--manager-listen', '0.0.0.0:4242']);
    expect(everywhere.code).toBe(2);
    expect(everywhere.output).toContain('--manager-listen: give an address the other nodes and managers reach');
    const alone = await start(['--etcd-listen-peer', '127.0.0.1:2380']);
    expect(alone.code).toBe(2);
    expect(alone.output).toContain('add --manager-listen');
  });
});
