import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { completeCommand, completionCommand } from '../commands/completion.js';
import { nodeCommand } from '../commands/node.js';
import { serviceCommand } from '../commands/service.js';
import { stackCommand } from '../commands/stack.js';
import { controlClient } from '../control-client.js';
import { buildProgram } from '../index.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { bashCompletions, flotillaBinDir } from './completion.test-helpers.js';

// The listings' --format json and templates, and the live names of shell completion, against a manager on a real
// etcd and an agent that runs each task as a process.
const dir = testDirs('cli-fmt', ['manager', 'cli', 'agent', 'files']);
const [cliDir, filesDir] = [dir.cli, dir.files];
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli, [{ stateDir: dir.agent, hostname: 'fmt-node-1' }]);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[]) {
  const client = () => controlClient(cliDir);
  return runProgram(
    (io) =>
      buildProgram(
        [
          (i) => stackCommand(i, client),
          (i) => serviceCommand(i, client),
          (i) => nodeCommand(i, client),
          completionCommand,
          (i) => completeCommand(i, client),
        ],
        io,
      ),
    args,
  );
}

const json = async (args: string[]) => {
  const run = await flotilla(args);
  expect(run.code, run.err).toBe(0);
  return JSON.parse(run.out) as Record<string, unknown>[];
};

describe('docker-shaped listings and live completion', () => {
  it("lists services, tasks, nodes and stacks in docker's shape, and as templates", async () => {
    const file = path.join(filesDir, 'stack.yml');
    writeFileSync(
      file,
      [
        'services:',
        '  web:',
        '    image: unused',
        '    command: ["sleep", "300"]',
        '    x-flotilla: { allow_process_executor: true }',
        '    deploy: { replicas: 2 }',
        '',
      ].join('\n'),
    );
    const deployed = await flotilla(['stack', 'deploy', '--resolve-image', 'never', '--no-wait', '-c', file, 'shop']);
    expect(deployed.code, deployed.err).toBe(0);
    await expect
      .poll(async () => (await json(['service', 'ls', '--format', 'json']))[0]?.Replicas, { timeout: 30_000 })
      .toBe('2/2');
    const [service] = await json(['service', 'ls', '--format', 'json']);
    expect(service).toMatchObject({ Name: 'shop_web', Mode: 'replicated', Image: 'unused', Stack: 'shop', Running: 2 });
    expect(Date.parse(service?.CreatedAt as string)).toBeGreaterThan(0);

    const tasks = await json(['service', 'ps', 'shop_web', '--format', 'json']);
    expect(tasks.map((t) => [t.Name, t.Node, t.DesiredState, t.State]).sort()).toEqual([
      ['shop_web.1', 'fmt-node-1', 'running', 'running'],
      ['shop_web.2', 'fmt-node-1', 'running', 'running'],
    ]);
    const stackTasks = await json(['stack', 'ps', 'shop', '--format', 'json']);
    expect(stackTasks.map((t) => t.ID).sort()).toEqual(tasks.map((t) => t.ID).sort());
    // What must not come back: the API's enum names and millisecond strings.
    const printed = (await flotilla(['service', 'ps', 'shop_web', '--format', 'json'])).out;
    expect(printed).not.toMatch(/TASK_STATE_|timestampMs|createdAtMs/);

    const names = await flotilla(['service', 'ps', 'shop_web', '--format', '{{.Name}} {{upper .State}}']);
    expect(names.out.split('\n').filter(Boolean).sort()).toEqual(['shop_web.1 RUNNING', 'shop_web.2 RUNNING']);
    const table = await flotilla(['node', 'ls', '--format', 'table {{.Hostname}}\\t{{.Status}}\\t{{.ManagerStatus}}']);
    expect(table.out).toMatch(/^HOSTNAME\s+STATUS\s+MANAGER STATUS\n/);
    expect(table.out).toMatch(/fmt-node-1\s+ready\n/);
    expect(table.out).toMatch(/\s+ready\s+Leader\n/);

    const nodes = await json(['node', 'ls', '--format', 'json']);
    expect(nodes.find((n) => n.Hostname === 'fmt-node-1')).toMatchObject({
      Status: 'ready',
      Availability: 'active',
      ManagerStatus: '',
      Role: 'worker',
      RunsTasks: true,
    });
    expect(nodes.filter((n) => n.ManagerStatus === 'Leader')).toHaveLength(1);
    expect(await json(['stack', 'ls', '--format', 'json'])).toEqual([{ Name: 'shop', Services: '1' }]);
    // The API's objects are still there for what docker's listing has no place for.
    const [raw] = await json(['service', 'ps', 'shop_web', '--format', 'raw']);
    expect(raw).toMatchObject({ desiredState: 'TASK_STATE_RUNNING', serviceName: 'shop_web' });
  });

  it("completes the cluster's live names, through the generated bash script too", async () => {
    expect((await flotilla(['__complete', 'services'])).out).toBe('shop_web\n');
    expect((await flotilla(['__complete', 'stacks'])).out).toBe('shop\n');
    expect((await flotilla(['__complete', 'nodes'])).out.split('\n')).toContain('fmt-node-1');

    // The script calls `flotilla __complete` back: here a flotilla on PATH that runs this source tree's CLI.
    const script = path.join(filesDir, 'flotilla.bash');
    writeFileSync(script, (await flotilla(['completion', 'bash'])).out);
    const env = { PATH: `${flotillaBinDir(filesDir)}:${process.env.PATH}`, FLOTILLA_CONFIG_DIR: cliDir };
    const offered = async (words: string[]) => (await bashCompletions(script, words, env)).offered;
    expect(await offered(['flotilla', 'service', 'ps', 'sh'])).toEqual(['shop_web']);
    expect(await offered(['flotilla', 'stack', 'rm', ''])).toEqual(['shop']);
    expect(await offered(['flotilla', 'node', 'inspect', 'fmt'])).toEqual(['fmt-node-1']);
    // A name that matches nothing offers nothing.
    expect(await offered(['flotilla', 'service', 'ps', 'zz'])).toEqual([]);
  });
});
