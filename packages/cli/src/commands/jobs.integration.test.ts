import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { serviceCommand } from './service.js';
import { stackCommand } from './stack.js';

// `flotilla stack deploy --wait` and `service update --force` on jobs, against a manager on a real etcd and an
// agent that runs each task as a process.
const dir = testDirs('cli-jobs', ['manager', 'cli', 'agent', 'files']);
const [cliDir, filesDir] = [dir.cli, dir.files];
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli, [{ stateDir: dir.agent }]);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[]) {
  const client = () => controlClient(cliDir);
  return runProgram((io) => buildProgram([(i) => stackCommand(i, client), (i) => serviceCommand(i, client)], io), args);
}

/** A stack file of one job whose tasks run `command` as a process on the test's agent. */
function jobFile(name: string, command: string, deploy: string[]): string {
  const file = path.join(filesDir, `${name}.yml`);
  writeFileSync(
    file,
    [
      'services:',
      `  ${name}:`,
      '    image: unused',
      `    command: ["sh", "-c", ${JSON.stringify(command)}]`,
      '    x-flotilla: { allow_process_executor: true, total_completions: 3 }',
      '    deploy:',
      ...deploy.map((l) => `      ${l}`),
      '',
    ].join('\n'),
  );
  return file;
}

const deployWait = (file: string) =>
  flotilla(['stack', 'deploy', '--wait', '--timeout', '60s', '--resolve-image', 'never', '-c', file, 'batch']);

describe('jobs from the command line', () => {
  it('stack deploy --wait returns once the job has reached its completions, and service ls/ps show them', async () => {
    const file = jobFile('seed', 'sleep 0.2', ['mode: replicated-job', 'replicas: 2']);
    const deployed = await deployWait(file);
    expect(deployed.code).toBe(EXIT.ok);
    expect(deployed.out).toContain('stack batch: 1 service converged');
    const ls = await flotilla(['service', 'ls', '--stack', 'batch']);
    expect(ls.out).toMatch(/batch_seed\s+replicated job\s+0\/2 \(3\/3 completed\)/);
    // Desired state complete follows the task's own report in the orchestrator's next round.
    await expect
      .poll(async () => (await flotilla(['service', 'ps', 'batch_seed'])).out.match(/complete\s+complete \(exit 0\)/g))
      .toHaveLength(3);
    const ps = await flotilla(['service', 'ps', 'batch_seed']);
    // Nothing was restarted after it succeeded.
    expect(ps.out).not.toMatch(/running|shutdown|failed/);
  });

  it('service update --force runs the job again', async () => {
    const forced = await flotilla(['service', 'update', '--force', 'batch_seed']);
    expect(forced).toMatchObject({ code: EXIT.ok, out: expect.stringContaining('run 2 of the job started') });
    await expect
      .poll(async () => (await flotilla(['service', 'ls', '--stack', 'batch'])).out, { timeout: 30_000, interval: 200 })
      .toMatch(/0\/2 \(3\/3 completed\)/);
    const json = JSON.parse((await flotilla(['service', 'ps', 'batch_seed', '--format', 'raw'])).out) as {
      specVersion: string;
      status: { state: string };
    }[];
    const complete = (v: string) =>
      json.filter((t) => t.specVersion === v && t.status.state === 'TASK_STATE_COMPLETE').length;
    expect([complete('1'), complete('2')]).toEqual([3, 3]);
    expect(json).toHaveLength(6);
  });

  it('stack deploy --wait exits 1 when the job fails, naming the task and its exit code', async () => {
    const file = jobFile('migrate', 'exit 4', [
      'mode: replicated-job',
      'replicas: 1',
      'restart_policy: { delay: 0s, max_attempts: 1 }',
    ]);
    const deployed = await deployWait(file);
    expect(deployed.code).toBe(EXIT.failed);
    expect(deployed.err).toMatch(
      /batch_migrate: job task batch_migrate\.1 \([0-9a-z]{12}\) failed \(exited with code 4\) and has no restart attempt left/,
    );
    // What must not happen: a failed job reported as converged, or retried past max_attempts.
    expect(deployed.out).not.toContain('converged');
    const ps = await flotilla(['service', 'ps', 'batch_migrate']);
    expect(ps.out.match(/failed \(exit 4\)/g)).toHaveLength(2);
  });
});
