import { createServer } from 'node:net';
import { type RunningAgent, startAgent } from '@flotilla/agent';
import { type ControlServiceClient, type Task, TaskHealth, TaskState } from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStack, startTestCluster, type TestCluster } from '../test/test-cluster.js';

// Healthchecks end to end: a real manager, and a real agent whose process executor runs the probes on the host.
let cluster: TestCluster;
let agent: RunningAgent;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];

beforeAll(async () => {
  cluster = await startTestCluster('health');
  ({ control, rpc } = cluster);
  agent = await startAgent({
    stateDir: cluster.dir('agent'),
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
  });
});

afterAll(async () => {
  await agent?.stop();
  await cluster?.stop();
});

async function deploy(yaml: string): Promise<void> {
  await rpc(control.deployStack, { stack: processStack(yaml, 'hc'), prune: false });
}

async function tasks(service: string): Promise<Task[]> {
  return (await rpc(control.listTasks, { service, stack: '', node: '' })).tasks;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

const healthOf = async (service: string) => {
  const running = (await tasks(service)).find((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
  return running?.status?.health;
};

describe('healthchecks on a real agent', () => {
  it('shows a task whose check passes as healthy', async () => {
    await deploy(
      [
        'services:',
        '  ok:',
        '    image: unused',
        '    command: ["sleep", "60"]',
        '    healthcheck:',
        '      test: ["CMD-SHELL", "test -d /"]',
        '      interval: 100ms',
        '',
      ].join('\n'),
    );
    await expect.poll(() => healthOf('hc_ok'), { timeout: 15_000 }).toBe(TaskHealth.TASK_HEALTH_HEALTHY);
  });

  it('fails a task whose check keeps failing, with the probe output, and the orchestrator replaces it', async () => {
    await deploy(
      [
        'services:',
        '  sick:',
        '    image: unused',
        '    command: ["sleep", "60"]',
        '    stop_grace_period: 1s',
        '    healthcheck:',
        '      test: echo database unreachable; exit 1',
        '      interval: 100ms',
        '      retries: 2',
        '    deploy:',
        '      restart_policy:',
        '        condition: on-failure',
        '        delay: 0s',
        '        max_attempts: 1',
        '',
      ].join('\n'),
    );
    const failed = (ts: Task[]) => ts.filter((t) => t.status?.state === TaskState.TASK_STATE_FAILED);
    await expect.poll(async () => failed(await tasks('hc_sick')).length, { timeout: 20_000 }).toBe(2);
    const all = await tasks('hc_sick');
    expect(all).toHaveLength(2);
    for (const t of failed(all)) expect(t.status?.error).toBe('unhealthy: database unreachable');
  });

  it('probes over HTTP with x-flotilla-probe', async () => {
    const port = await freePort();
    const server = `require("http").createServer((q, s) => s.end("ok")).listen(${port}, "127.0.0.1")`;
    await deploy(
      [
        'services:',
        '  web:',
        '    image: unused',
        `    command: ["${process.execPath}", "-e", ${JSON.stringify(server)}]`,
        '    healthcheck:',
        `      x-flotilla-probe: { http: { port: ${port}, path: /healthz } }`,
        '      interval: 100ms',
        '      start_period: 10s',
        '',
      ].join('\n'),
    );
    await expect.poll(() => healthOf('hc_web'), { timeout: 15_000 }).toBe(TaskHealth.TASK_HEALTH_HEALTHY);
    const [web] = await tasks('hc_web');
    expect(web?.status?.healthOutput).toBe('GET /healthz: 200 ok');
  });
});
