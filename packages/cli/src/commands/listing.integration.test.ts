import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Promotion } from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { nodeCommand } from './node.js';
import { serviceCommand } from './service.js';
import { stackCommand } from './stack.js';

// The docker-shaped listings (`node ps`, `stack services`, `service ps --filter`, `node ls -q`, `--pretty`) and
// `node update --role`, against a manager on a real etcd and two agents that run each task as a process. Node A's
// agent may run a manager: its promotion is recorded here as it arrives (no second manager is started from it).
let cluster: TestCluster | undefined;
const promotions: Promotion[] = [];
const dir = testDirs('cli-listing', ['manager', 'cli', 'a', 'b', 'files']);
const [cliDir, filesDir] = [dir.cli, dir.files];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The CLI with the test's operator credentials; `configDir` says which manager it takes as its own. */
function flotilla(args: string[], configDir = cliDir) {
  const client = () => controlClient(cliDir);
  return runProgram(
    (io) =>
      buildProgram(
        [
          (i) => stackCommand(i, client),
          (i) => serviceCommand(i, client),
          (i) => nodeCommand(i, client, () => configDir),
        ],
        io,
      ),
    args,
  );
}

interface NodeJson {
  id: string;
  description?: { hostname: string };
  spec?: { role?: string };
  status?: { state: string };
  managerStatus?: { managerId?: string; addr?: string };
}
interface TaskJson {
  id: string;
  nodeId: string;
  desiredState: string;
  status: { state: string };
}

const nodesJson = async () => JSON.parse((await flotilla(['node', 'ls', '--format', 'raw'])).out) as NodeJson[];
const tasksJson = async () =>
  JSON.parse((await flotilla(['service', 'ps', 'shop_web', '--format', 'raw'])).out) as TaskJson[];
const nodeId = (hostname: string) => nodesJson().then((n) => n.find((x) => x.description?.hostname === hostname)?.id);

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli, [
    {
      stateDir: dir.a,
      hostname: 'node-a',
      promotion: { managerAddress: `127.0.0.1:${await freePort()}`, onPromotion: (p) => promotions.push(p) },
    },
    { stateDir: dir.b, hostname: 'node-b' },
  ]);
  for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
    if ((await nodesJson()).filter((n) => n.status?.state === 'STATE_READY').length === 2) break;
    if (Date.now() > deadline) throw new Error('the two nodes are not ready');
  }
  const file = path.join(filesDir, 'shop.yml');
  writeFileSync(
    file,
    [
      'services:',
      '  web:',
      '    image: unused',
      '    command: ["sleep", "600"]',
      '    x-flotilla: { allow_process_executor: true }',
      '    deploy:',
      '      replicas: 4',
      '      placement: { max_replicas_per_node: 2 }',
      '      update_config: { parallelism: 4, monitor: 1s }',
      '',
    ].join('\n'),
  );
  const deployed = await flotilla([
    'stack',
    'deploy',
    '--wait',
    '--timeout',
    '60s',
    '--resolve-image',
    'never',
    '-c',
    file,
    'shop',
  ]);
  expect(deployed.code, deployed.err).toBe(EXIT.ok);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('docker-shaped listings', () => {
  it('node ls -q prints the IDs of the rows node ls has, and nothing else', async () => {
    const quiet = await flotilla(['node', 'ls', '-q']);
    expect(quiet.code).toBe(EXIT.ok);
    const json = await nodesJson();
    const ids = json.map((n) => n.id);
    expect(ids).toHaveLength(3); // two nodes and the manager
    expect([...lines(quiet.out)].sort()).toEqual([...ids].sort());
    expect(quiet.out).not.toContain('HOSTNAME');
  });

  it("node ps lists a node's tasks in docker's columns, and only that node's", async () => {
    const [a, b] = [await nodeId('node-a'), await nodeId('node-b')];
    const tasks = await tasksJson();
    const onA = tasks.filter((t) => t.nodeId === a).map((t) => t.id.slice(0, 12));
    const onB = tasks.filter((t) => t.nodeId === b).map((t) => t.id.slice(0, 12));
    expect(onA).toHaveLength(2);
    const ps = await flotilla(['node', 'ps', 'node-a']);
    expect(ps.code).toBe(EXIT.ok);
    const [head, ...rows] = lines(ps.out);
    expect(head).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual([...onA].sort());
    for (const row of rows) expect(row).toMatch(/shop_web\.\d\s+unused\s+node-a\s+running\s+running/);
    // By ID prefix too, and several nodes at once.
    const both = await flotilla(['node', 'ps', '-q', (a as string).slice(0, 8), 'node-b']);
    expect(lines(both.out).sort()).toEqual([...onA, ...onB].sort());
  });

  it('node ps without a node, or with one nobody has, fails saying what to do', async () => {
    const bare = await flotilla(['node', 'ps']);
    expect(bare).toMatchObject({ code: EXIT.usage, out: '' });
    // The CLI's manager was started with `manager start`: it runs on no node.
    expect(bare.err).toMatch(
      /name the node: flotilla node ps NODE \(the manager this CLI uses, 127\.0\.0\.1:\d+, runs on no node of the cluster/,
    );
    const self = await flotilla(['node', 'inspect', 'self']);
    expect(self).toMatchObject({ code: EXIT.usage, out: '' });
    expect(self.err).toMatch(/name the node: flotilla node inspect NODE \(the manager this CLI uses/);
    const unknown = await flotilla(['node', 'ps', 'node-z']);
    expect(unknown.code).toBe(EXIT.failed);
    expect(unknown.err).toMatch(/no node "node-z"/);
  });

  it("stack services lists a stack's services in docker's columns", async () => {
    const listed = await flotilla(['stack', 'services', 'shop']);
    expect(listed.code).toBe(EXIT.ok);
    const [head, ...rows] = lines(listed.out);
    expect(head).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^[0-9a-z]{12}\s+shop_web\s+replicated\s+4\/4\s+unused$/);
    const json = JSON.parse((await flotilla(['stack', 'services', 'shop', '--format', 'json'])).out);
    expect(json).toMatchObject([{ Name: 'shop_web', Mode: 'replicated', Replicas: '4/4' }]);
    // `service ls` has the same columns, and -q.
    const ls = await flotilla(['service', 'ls']);
    expect(lines(ls.out)).toEqual([head, rows[0]]);
    expect((await flotilla(['service', 'ls', '-q'])).out).toBe(
      (await flotilla(['stack', 'services', '-q', 'shop'])).out,
    );
    expect(lines((await flotilla(['service', 'ls', '-q'])).out)).toEqual([expect.stringMatching(/^[0-9a-z]{25}$/)]);
    const missing = await flotilla(['stack', 'services', 'nostack']);
    expect(missing.code).toBe(EXIT.failed);
    expect(missing.err).toMatch(/nothing found in stack nostack/);
  });

  it('service ps --filter keeps what docker keeps; -q --no-trunc prints whole IDs only', async () => {
    const a = await nodeId('node-a');
    // A forced update leaves each slot's old task as history (desired state shutdown).
    const forced = await flotilla(['service', 'update', '--force', 'shop_web']);
    expect(forced.code, forced.err).toBe(EXIT.ok);
    const settled = (all: TaskJson[]) =>
      all.filter((t) => t.desiredState === 'TASK_STATE_SHUTDOWN').length === 4 &&
      all.filter((t) => t.desiredState === 'TASK_STATE_RUNNING' && t.status.state === 'TASK_STATE_RUNNING').length ===
        4;
    await expect.poll(async () => settled(await tasksJson()), { timeout: 30_000, interval: 200 }).toBe(true);
    const tasks = await tasksJson();
    const ids = (keep: (t: TaskJson) => boolean) =>
      tasks
        .filter(keep)
        .map((t) => t.id)
        .sort();
    const ps = async (...args: string[]) => {
      const run = await flotilla(['service', 'ps', 'shop_web', '-q', '--no-trunc', ...args]);
      expect(run.code, run.err).toBe(EXIT.ok);
      return lines(run.out).sort();
    };
    const running = ids((t) => t.desiredState === 'TASK_STATE_RUNNING');
    expect(running).toHaveLength(4);
    expect(await ps('--filter', 'desired-state=running')).toEqual(running);
    expect(await ps('--filter', 'desired-state=shutdown')).toEqual(
      ids((t) => t.desiredState === 'TASK_STATE_SHUTDOWN'),
    );
    // One key's values ORed, different keys ANDed.
    expect(await ps('-f', 'desired-state=running', '-f', 'desired-state=shutdown')).toEqual(ids(() => true));
    expect(await ps('-f', 'desired-state=running', '-f', 'node=node-a')).toEqual(
      ids((t) => t.desiredState === 'TASK_STATE_RUNNING' && t.nodeId === a),
    );
    expect(await ps('-f', 'name=shop_web.1')).toEqual(
      ids((t) => /^shop_web\.1\./.test(`shop_web.${(t as unknown as { slot: string }).slot}.`)),
    );
    // Whole IDs: none cut to 12.
    for (const id of await ps()) expect(id.length).toBeGreaterThan(12);
    // `stack ps` lists and filters as `service ps` does.
    const stackPs = await flotilla(['stack', 'ps', 'shop', '-q', '--no-trunc', '-f', 'desired-state=running']);
    expect(lines(stackPs.out).sort()).toEqual(running);
    const stackTable = lines((await flotilla(['stack', 'ps', 'shop', '-f', 'name=shop_web.1'])).out);
    expect(stackTable[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    // Slot 1's running task, and its old one as history under it.
    expect(stackTable.slice(1).map((row) => row.split(/\s+/).slice(1, 3).join(' '))).toEqual([
      'shop_web.1 unused',
      '\\_ shop_web.1',
    ]);
    const refused = await flotilla(['service', 'ps', 'shop_web', '-f', 'color=blue']);
    expect(refused).toMatchObject({ code: EXIT.usage, out: '' });
  });

  it("service inspect --pretty and node inspect --pretty lay things out as docker's CLI does", async () => {
    const service = await flotilla(['service', 'inspect', '--pretty', 'shop_web']);
    expect(service.code).toBe(EXIT.ok);
    expect(service.out).toMatch(
      /^ID:\s{13}[0-9a-z]+\nName:\s{11}shop_web\nLabels:\n com\.docker\.stack\.namespace=shop\nService Mode:\s{3}Replicated\n Replicas:\s{6}4\n/,
    );
    expect(service.out).toContain('\nPlacement:\n Max Replicas Per Node:   2\n');
    expect(service.out).toContain('\nContainerSpec:\n Image:         unused\n Args:          sleep 600\n');
    expect(service.out).not.toContain('{');
    const node = await flotilla(['node', 'inspect', '--pretty', 'node-b']);
    expect(node.code).toBe(EXIT.ok);
    expect(node.out).toContain('\nHostname:               node-b\n');
    expect(node.out).toMatch(/\nStatus:\n State:\s{17}Ready\n( Message:\s{15}.+\n)? Availability:\s{10}Active\n/);
    expect(node.out).not.toContain('Manager Status');
    // --pretty is a layout of its own: with --format it is refused before the cluster is asked.
    const both = await flotilla(['service', 'inspect', '--pretty', '--format', 'json', 'shop_web']);
    expect(both).toMatchObject({ code: EXIT.usage, out: '' });
    expect(both.err).toMatch(/--pretty and --format cannot be used together/);
  });

  it("service inspect and node inspect print docker's shape, the API's with --format raw, or a template", async () => {
    const [service] = JSON.parse((await flotilla(['service', 'inspect', 'shop_web'])).out);
    expect(service).toMatchObject({
      Spec: {
        Name: 'shop_web',
        Labels: { 'com.docker.stack.namespace': 'shop' },
        Mode: { Replicated: { Replicas: 4 } },
        TaskTemplate: { ContainerSpec: { Image: 'unused', Args: ['sleep', '600'] }, Placement: { MaxReplicas: 2 } },
        // Docker's words and nanoseconds: monitor 1s.
        UpdateConfig: { Parallelism: 4, Monitor: 1_000_000_000 },
        Flotilla: { Stack: 'shop', AllowProcessExecutor: true },
      },
      Flotilla: { SpecVersion: service.Version.Index },
    });
    expect(service.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(service).not.toHaveProperty('spec');
    const [raw] = JSON.parse((await flotilla(['service', 'inspect', '--format', 'raw', 'shop_web'])).out);
    expect(raw).toMatchObject({ id: service.ID, spec: { annotations: { name: 'shop_web' }, replicas: '4' } });
    const template = await flotilla([
      'service',
      'inspect',
      '--format',
      '{{.Spec.Name}} {{json .Spec.Mode}}',
      'shop_web',
    ]);
    expect(template).toMatchObject({ code: EXIT.ok, out: 'shop_web {"Replicated":{"Replicas":4}}\n' });
    const typo = await flotilla(['service', 'inspect', '--format', '{{.Sepc.Name}}', 'shop_web']);
    expect(typo).toMatchObject({ code: EXIT.usage, out: '' });
    expect(typo.err).toContain('no field "Sepc"');

    const [node] = JSON.parse((await flotilla(['node', 'inspect', 'node-b'])).out);
    expect(node).toMatchObject({
      ID: await nodeId('node-b'),
      Spec: { Role: 'worker', Availability: 'active' },
      Description: { Hostname: 'node-b' },
      Status: { State: 'ready' },
    });
    expect(node).not.toHaveProperty('ManagerStatus');
    expect(JSON.parse((await flotilla(['node', 'inspect', '--format', 'raw', 'node-b'])).out)).toMatchObject({
      description: { hostname: 'node-b' },
      status: { state: 'STATE_READY' },
    });
    expect(
      (await flotilla(['node', 'inspect', '--format', '{{.Description.Hostname}} {{.Status.State}}', 'node-b'])).out,
    ).toBe('node-b ready\n');
  });
});

describe('node update --role', () => {
  it('refuses what node demote and node promote refuse', async () => {
    const demoteWorker = await flotilla(['node', 'update', '--role', 'worker', 'node-b']);
    expect(demoteWorker.code).toBe(EXIT.failed);
    expect(demoteWorker.err).toMatch(/is a worker, not a manager: there is nothing to demote/);
    const cannot = await flotilla(['node', 'update', '--role', 'manager', 'node-b']);
    expect(cannot.code).toBe(EXIT.failed);
    expect(cannot.err).toMatch(/node node-b's agent cannot run a manager: restart it with --manager-listen/);
    const wrong = await flotilla(['node', 'update', '--role', 'boss', 'node-b']);
    expect(wrong.code).toBe(EXIT.usage);
    // What must not happen: a refused promotion sent anyway, or a role changed.
    expect(promotions).toHaveLength(0);
    expect((await nodesJson()).find((n) => n.description?.hostname === 'node-b')?.spec?.role).toBe('ROLE_WORKER');
  });

  it('promotes a worker as node promote does, and demotes it back', async () => {
    const a = await nodeId('node-a');
    const promoted = await flotilla(['node', 'update', '--role', 'manager', 'node-a']);
    expect(promoted.code, promoted.err).toBe(EXIT.ok);
    expect(promoted.out).toBe(`node-a\n`);
    // The leader sent node A the promotion over its session, for the manager record it made.
    await expect.poll(() => promotions.length).toBe(1);
    const rows = await nodesJson();
    const nodeA = rows.find((n) => n.id === a);
    expect(nodeA?.spec?.role).toBe('ROLE_MANAGER');
    expect(nodeA?.managerStatus?.managerId).toBe(promotions[0]?.managerId);
    // A CLI whose manager is node A's lists node A's tasks when given no node, as docker lists its own node's.
    const ownDir = path.join(filesDir, 'cli-of-node-a');
    mkdirSync(ownDir, { recursive: true });
    writeFileSync(path.join(ownDir, 'manager'), `${nodeA?.managerStatus?.addr}\n`);
    const ownPs = await flotilla(['node', 'ps', '-q'], ownDir);
    expect(ownPs.code, ownPs.err).toBe(EXIT.ok);
    expect(lines(ownPs.out).length).toBeGreaterThan(0);
    expect(ownPs.out).toBe((await flotilla(['node', 'ps', '-q', 'node-a'])).out);
    // `self`, as docker names the node its daemon runs on.
    expect((await flotilla(['node', 'ps', '-q', 'self'], ownDir)).out).toBe(ownPs.out);
    const self = await flotilla(['node', 'inspect', '--pretty', 'self'], ownDir);
    expect(self.code, self.err).toBe(EXIT.ok);
    expect(self.out).toMatch(new RegExp(`^ID:\\s+${a}$`, 'm'));
    expect(self.out).toMatch(/^Hostname:\s+node-a$/m);
    const onB = lines((await flotilla(['node', 'ps', '-q', 'node-b'])).out);
    expect(lines(ownPs.out).filter((id) => onB.includes(id))).toEqual([]);
    const again = await flotilla(['node', 'update', '--role', 'manager', 'node-a']);
    expect(again.code).toBe(EXIT.failed);
    expect(again.err).toMatch(/node node-a is a manager already/);
    expect(promotions).toHaveLength(1);

    const demoted = await flotilla(['node', 'update', '--role', 'worker', 'node-a']);
    expect(demoted.code, demoted.err).toBe(EXIT.ok);
    const after = (await nodesJson()).find((n) => n.id === a);
    expect(after?.spec?.role).toBe('ROLE_WORKER');
    expect(after?.managerStatus).toBeUndefined();
    // The manager started with `manager start` is the last one now: demoting it is refused.
    const own = (await nodesJson()).find((n) => n.managerStatus && !n.managerStatus.managerId);
    const last = await flotilla(['node', 'update', '--role', 'worker', own?.id ?? 'missing']);
    expect(last.code).toBe(EXIT.failed);
    expect(last.err).toMatch(/is the last manager/);
  });

  it('changes availability and role in one command, or neither', async () => {
    const hostB = async () => (await nodesJson()).find((n) => n.description?.hostname === 'node-b');
    // A refused role changes nothing else either.
    const refused = await flotilla(['node', 'update', '--availability', 'pause', '--role', 'worker', 'node-b']);
    expect(refused.code).toBe(EXIT.failed);
    expect(await hostB()).toMatchObject({ spec: { availability: 'AVAILABILITY_ACTIVE', role: 'ROLE_WORKER' } });
    const both = await flotilla(['node', 'update', '--availability', 'pause', '--role', 'manager', 'node-a']);
    expect(both.code, both.err).toBe(EXIT.ok);
    expect((await nodesJson()).find((n) => n.description?.hostname === 'node-a')).toMatchObject({
      spec: { availability: 'AVAILABILITY_PAUSE', role: 'ROLE_MANAGER' },
    });
    expect(promotions).toHaveLength(2);
  });
});
