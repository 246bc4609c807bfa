import { existsSync } from 'node:fs';
import path from 'node:path';
import { type RunningAgent, startAgent } from '@flotilla/agent';
import type { ControlServiceClient, Task } from '@flotilla/api';
import { type ServiceLogsRequest, TaskState } from '@flotilla/api';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStack, startTestCluster, type TestCluster } from '../test/test-cluster.js';

// A real agent with the process executor: tasks are real child processes, started, stopped and restarted as
// the orchestrator decides.
let cluster: TestCluster;
let agent: RunningAgent;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
let dir: TestCluster['dir'];

beforeAll(async () => {
  cluster = await startTestCluster('proc');
  ({ control, rpc, dir } = cluster);
  agent = await startAgent({
    stateDir: dir('agent'),
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
  });
});

afterAll(async () => {
  await agent?.stop();
  await cluster?.stop();
});

async function deploy(name: string, yaml: string): Promise<void> {
  await rpc(control.deployStack, { stack: processStack(yaml, name), prune: true });
}

async function tasks(service: string): Promise<Task[]> {
  return (await rpc(control.listTasks, { service, stack: '', node: '' })).tasks;
}

const running = (ts: Task[]) =>
  ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING);

describe('the process executor on a real agent', () => {
  it('runs each replica as a process, and stops them when scaled down', async () => {
    const marker = dir('marker');
    await deploy(
      'proc',
      [
        'services:',
        '  sleeper:',
        '    image: unused',
        `    command: ["sh", "-c", "touch ${marker}/$$TASK_SLOT.$$$$; exec sleep 60"]`,
        '    environment:',
        '      TASK_SLOT: replica',
        '    deploy:',
        '      replicas: 2',
        '',
      ].join('\n'),
    );
    await expect.poll(async () => running(await tasks('proc_sleeper')).length, { timeout: 15_000 }).toBe(2);
    const { readdirSync } = await import('node:fs');
    const pids = readdirSync(marker).map((f) => Number(f.split('.')[1]));
    expect(pids).toHaveLength(2);
    // The processes are real and alive.
    for (const pid of pids) expect(existsSync(path.join('/proc', String(pid)))).toBe(true);
    await rpc(control.scaleService, { service: 'proc_sleeper', replicas: 0n });
    await expect
      .poll(async () => (await tasks('proc_sleeper')).every((t) => t.status?.state === TaskState.TASK_STATE_SHUTDOWN), {
        timeout: 15_000,
      })
      .toBe(true);
    for (const pid of pids) expect(existsSync(path.join('/proc', String(pid)))).toBe(false);
  });

  it('reports the exit code of a failing command and restarts it under the policy', async () => {
    await deploy(
      'proc',
      [
        'services:',
        '  failer:',
        '    image: unused',
        '    command: ["sh", "-c", "exit 3"]',
        '    deploy:',
        '      restart_policy:',
        '        condition: on-failure',
        '        delay: 0s',
        '        max_attempts: 1',
        '',
      ].join('\n'),
    );
    await expect
      .poll(
        async () => (await tasks('proc_failer')).filter((t) => t.status?.state === TaskState.TASK_STATE_FAILED).length,
        {
          timeout: 15_000,
        },
      )
      .toBe(2);
    const failed = (await tasks('proc_failer'))[0];
    expect(failed?.status?.exitCode).toBe(3);
    expect(failed?.status?.error).toBe('exited with code 3');
  });

  it('says container logs are off while the managers have no Redis', async () => {
    const call = control.serviceLogs(
      { target: 'proc_sleeper', follow: false, sinceMs: 0n } as ServiceLogsRequest,
      new Metadata(),
    );
    call.on('data', () => undefined);
    const err = await new Promise<ServiceError | undefined>((resolve) => {
      call.on('error', resolve);
      call.on('end', () => resolve(undefined));
    });
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toContain('start the managers with --redis HOST:PORT');
  });

  it('rejects a service with no command, saying what to do', async () => {
    await deploy(
      'proc',
      'services:\n  nocmd:\n    image: nginx\n    deploy:\n      restart_policy:\n        condition: none\n',
    );
    await expect
      .poll(async () => (await tasks('proc_nocmd'))[0]?.status?.state, { timeout: 15_000 })
      .toBe(TaskState.TASK_STATE_REJECTED);
    expect((await tasks('proc_nocmd'))[0]?.status?.error).toContain('the process executor runs a service');
  });
});
