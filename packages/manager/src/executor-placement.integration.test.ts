import { existsSync } from 'node:fs';
import path from 'node:path';
import { type RunningAgent, startAgent } from '@flotilla/agent';
import { NodeStatus_State, type Task, TaskState } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../test/test-cluster.js';

// A real manager and a real agent that runs tasks as plain processes (the process executor): the node says so,
// and the scheduler leaves a service's tasks pending with the reason until the stack file allows such nodes.
let cluster: TestCluster;
let agent: RunningAgent;

beforeAll(async () => {
  cluster = await startTestCluster('executor');
  agent = await startAgent({
    stateDir: cluster.dir('agent'),
    hostname: 'plain-node',
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
  });
});

afterAll(async () => {
  await agent?.stop();
  await cluster?.stop();
});

async function deploy(yaml: string): Promise<void> {
  await cluster.rpc(cluster.control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, 'iso'), prune: true });
}

async function tasks(): Promise<Task[]> {
  return (await cluster.rpc(cluster.control.listTasks, { service: 'iso_app', stack: '', node: '' })).tasks;
}

const stack = (marker: string, extra: string[] = []) =>
  [
    'services:',
    '  app:',
    '    image: busybox:stable',
    `    command: ["sh", "-c", "touch ${marker}/ran; exec sleep 60"]`,
    ...extra,
    '',
  ].join('\n');

describe('a node that runs tasks as plain processes', () => {
  it('reports its executor, written with its ready status', async () => {
    const node = async () => (await cluster.rpc(cluster.control.getNode, { node: 'plain-node' })).node;
    await expect
      .poll(async () => (await node())?.status?.state, { timeout: 10_000 })
      .toBe(NodeStatus_State.STATE_READY);
    expect((await node())?.description).toMatchObject({
      hostname: 'plain-node',
      executor: 'process',
      runtime: 'process',
      runtimeVersion: process.version,
    });
  });

  it('is refused a service that does not allow it, the task saying why; allowed, the task runs there', async () => {
    const marker = cluster.dir('marker');
    await deploy(stack(marker));
    await expect
      .poll(async () => (await tasks())[0]?.status?.message, { timeout: 15_000 })
      .toBe(
        'no suitable node (1 node runs tasks as plain processes without isolation (to allow it: x-flotilla: { allow_process_executor: true }))',
      );
    const [pending] = await tasks();
    expect(pending?.nodeId).toBe('');
    expect(pending?.status?.state).toBe(TaskState.TASK_STATE_PENDING);
    expect(existsSync(path.join(marker, 'ran'))).toBe(false);

    await deploy(stack(marker, ['    x-flotilla:', '      allow_process_executor: true']));
    await expect
      .poll(
        async () =>
          (await tasks()).some(
            (t) => t.nodeId === agent.credentials.nodeId && t.status?.state === TaskState.TASK_STATE_RUNNING,
          ),
        { timeout: 15_000 },
      )
      .toBe(true);
    await expect.poll(() => existsSync(path.join(marker, 'ran')), { timeout: 5_000 }).toBe(true);
    // The node stays as it was: ready, and still said to run plain processes.
    const { node } = await cluster.rpc(cluster.control.getNode, { node: 'plain-node' });
    expect(node?.description?.executor).toBe('process');
  });
});
