import { readdirSync } from 'node:fs';
import { type RunningAgent, startAgent } from '@flotilla/agent';
import {
  type ControlServiceClient,
  jobProgress,
  type Service,
  type Task,
  TaskState,
  taskEnded,
  UpdateServiceRequest,
} from '@flotilla/api';
import { Informer } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStack, startTestCluster, type TestCluster } from '../test/test-cluster.js';

// Jobs end to end: a real etcd, a real manager, a real agent running each task as a process. Every task state the
// store goes through is watched, so what must never happen is checked at every revision, not only at the end.
let cluster: TestCluster;
let agent: RunningAgent;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
let dir: TestCluster['dir'];
let watch: Informer<'tasks'>;
const violations: string[] = [];
/** The most tasks of one run not ended at once, by service name and spec version. */
const mostAtOnce = new Map<string, number>();

beforeAll(async () => {
  cluster = await startTestCluster('jobs');
  ({ control, rpc, dir } = cluster);
  watch = new Informer(cluster.manager.store, 'tasks');
  const completedSlots = new Map<string, Set<string>>();
  watch.subscribe((set) => {
    const all = watch.list().map((t) => t.value);
    for (const c of set.changes) {
      if (c.type !== 'put') continue;
      const t = c.value;
      const run = `${t.serviceName}@${t.specVersion}`;
      const slot = `${t.slot}/${t.nodeId && t.slot === 0n ? t.nodeId : ''}`;
      const done = completedSlots.get(run) ?? new Set<string>();
      completedSlots.set(run, done);
      // A completed task never changes state again, and no new task is made for its slot in the same run.
      if (
        c.previous?.status?.state === TaskState.TASK_STATE_COMPLETE &&
        t.status?.state !== TaskState.TASK_STATE_COMPLETE
      ) {
        violations.push(`task ${t.id} of ${run} left COMPLETE for ${TaskState[t.status?.state ?? 0]}`);
      }
      if (!c.previous && done.has(slot)) violations.push(`task ${t.id} started for completed slot ${slot} of ${run}`);
      if (t.status?.state === TaskState.TASK_STATE_COMPLETE) done.add(slot);
    }
    const notEnded = new Map<string, number>();
    for (const t of all) {
      if (taskEnded(t)) continue;
      const run = `${t.serviceName}@${t.specVersion}`;
      notEnded.set(run, (notEnded.get(run) ?? 0) + 1);
    }
    for (const [run, n] of notEnded) mostAtOnce.set(run, Math.max(mostAtOnce.get(run) ?? 0, n));
  });
  await watch.start();
  agent = await startAgent({
    stateDir: dir('agent'),
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
  });
});

afterAll(async () => {
  await agent?.stop();
  await watch?.stop();
  await cluster?.stop();
});

async function deploy(yaml: string): Promise<void> {
  await rpc(control.deployStack, { stack: processStack(yaml, 'jobs'), prune: false });
}

async function service(name: string): Promise<{ service: Service; tasks: Task[] }> {
  const { service: s } = await rpc(control.getService, { service: name });
  const { tasks } = await rpc(control.listTasks, { service: name, stack: '', node: '' });
  return { service: s as Service, tasks };
}

async function progress(name: string) {
  const { service: s, tasks } = await service(name);
  return jobProgress(s, tasks);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('jobs through the real manager and a process agent', () => {
  it('runs total_completions tasks, at most max_concurrent at once, each exactly once', async () => {
    const runs = dir('runs');
    await deploy(
      [
        'services:',
        '  work:',
        '    image: unused',
        // Each process leaves one file (its PID): the count is how many times a task was started.
        `    command: ["sh", "-c", "touch ${runs}/$$$$; sleep 0.4"]`,
        '    deploy:',
        '      mode: replicated-job',
        '      replicas: 2',
        '    x-flotilla: { total_completions: 5 }',
        '',
      ].join('\n'),
    );
    await expect
      .poll(() => progress('jobs_work'), { timeout: 30_000, interval: 200 })
      .toMatchObject({
        completed: 5,
        total: 5,
        finished: true,
      });
    const { tasks } = await service('jobs_work');
    expect(tasks.filter((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE)).toHaveLength(5);
    expect(tasks.every((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE && t.status.exitCode === 0)).toBe(true);
    // Nothing more starts once the job is done.
    await sleep(1_500);
    expect(readdirSync(runs)).toHaveLength(5);
    expect((await service('jobs_work')).tasks).toHaveLength(5);
    expect(mostAtOnce.get('jobs_work@1')).toBeLessThanOrEqual(2);
    // It did run two at once: the cap was reached, not just never approached.
    expect(mostAtOnce.get('jobs_work@1')).toBe(2);
    expect(violations).toEqual([]);
  });

  it('shows the run in service ls and refuses to scale a job', async () => {
    const { services } = await rpc(control.listServices, { stack: 'jobs' });
    const work = services.find((s) => s.service?.spec?.annotations?.name === 'jobs_work');
    expect(work).toMatchObject({ running: 0n, desired: 2n, completed: 5n, completions: 5n });
    await expect(rpc(control.scaleService, { service: 'jobs_work', replicas: 4n })).rejects.toThrow(
      'jobs_work is a job and cannot be scaled',
    );
  });

  it('runs the job again on service update --force, leaving the first run as it was', async () => {
    const runs = dir('runs');
    const before = (await service('jobs_work')).tasks.map((t) => t.id);
    const updated = await rpc(
      control.updateService,
      UpdateServiceRequest.fromPartial({ service: 'jobs_work', force: true }),
    );
    expect(updated.service?.specVersion).toBe(2n);
    await expect
      .poll(() => progress('jobs_work'), { timeout: 30_000, interval: 200 })
      .toMatchObject({
        completed: 5,
        finished: true,
      });
    await sleep(1_000);
    expect(readdirSync(runs)).toHaveLength(10);
    const { tasks } = await service('jobs_work');
    const first = tasks.filter((t) => before.includes(t.id));
    // The first run's completions are kept (within the history limit) and were not started again.
    expect(first.every((t) => t.specVersion === 1n && t.status?.state === TaskState.TASK_STATE_COMPLETE)).toBe(true);
    expect(tasks.filter((t) => t.specVersion === 2n && t.status?.state === TaskState.TASK_STATE_COMPLETE)).toHaveLength(
      5,
    );
    expect(mostAtOnce.get('jobs_work@2')).toBeLessThanOrEqual(2);
    expect(violations).toEqual([]);
  });

  it('service update --replicas starts a new run whose parallelism follows the replicas', async () => {
    const updated = await rpc(
      control.updateService,
      UpdateServiceRequest.fromPartial({ service: 'jobs_work', replicas: 3n }),
    );
    expect(updated.service?.spec?.job).toEqual({ maxConcurrent: 3n, totalCompletions: 5n });
    expect(updated.service?.specVersion).toBe(3n);
    await expect
      .poll(() => progress('jobs_work'), { timeout: 30_000, interval: 200 })
      .toMatchObject({
        completed: 5,
        finished: true,
      });
    expect(mostAtOnce.get('jobs_work@3')).toBe(3);
    expect(violations).toEqual([]);
  });

  it('retries a failing task up to max_attempts, then fails the run and starts nothing more', async () => {
    await deploy(
      [
        'services:',
        '  broken:',
        '    image: unused',
        '    command: ["sh", "-c", "exit 3"]',
        '    deploy:',
        '      mode: replicated-job',
        '      restart_policy: { delay: 0s, max_attempts: 1 }',
        '',
      ].join('\n'),
    );
    await expect
      .poll(async () => (await progress('jobs_broken')).failed?.status?.exitCode, { timeout: 30_000, interval: 200 })
      .toBe(3);
    const failed = (await service('jobs_broken')).tasks;
    // The first attempt and its one retry, both failed with the command's code; no third.
    expect(failed.map((t) => [t.status?.state, t.status?.exitCode])).toEqual([
      [TaskState.TASK_STATE_FAILED, 3],
      [TaskState.TASK_STATE_FAILED, 3],
    ]);
    await sleep(1_500);
    expect((await service('jobs_broken')).tasks).toHaveLength(2);
    expect(await progress('jobs_broken')).toMatchObject({ completed: 0, finished: false });
    expect(violations).toEqual([]);
  });

  it('runs a global job once on every node, and once on a node that joins later', async () => {
    const runs = dir('global-runs');
    await deploy(
      [
        'services:',
        '  everywhere:',
        '    image: unused',
        `    command: ["sh", "-c", "touch ${runs}/$$$$"]`,
        '    deploy:',
        '      mode: global-job',
        '',
      ].join('\n'),
    );
    await expect
      .poll(() => progress('jobs_everywhere'), { timeout: 30_000, interval: 200 })
      .toMatchObject({
        completed: 1,
        total: 1,
        finished: true,
      });
    const late = await startAgent({
      stateDir: dir('late-agent'),
      join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
    });
    try {
      await expect
        .poll(() => progress('jobs_everywhere'), { timeout: 30_000, interval: 200 })
        .toMatchObject({
          completed: 2,
          total: 2,
          finished: true,
        });
      await sleep(1_000);
      const { tasks } = await service('jobs_everywhere');
      // One task per node, each complete; the first node did not run it again when the second joined.
      expect(new Set(tasks.map((t) => t.nodeId)).size).toBe(2);
      expect(tasks.map((t) => t.status?.state)).toEqual([TaskState.TASK_STATE_COMPLETE, TaskState.TASK_STATE_COMPLETE]);
      expect(readdirSync(runs)).toHaveLength(2);
      expect(violations).toEqual([]);
    } finally {
      await late.stop();
      // Gone for good: a node left down would count as a voter that cannot be heard in the next test.
      await rpc(control.removeNode, { node: late.credentials.nodeId, force: true });
    }
  });

  it('runs a task lost with its node again elsewhere, not counting it as a completion', async () => {
    const lossy = await startAgent({
      stateDir: dir('lossy-agent'),
      join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
    });
    const lossyId = lossy.credentials.nodeId;
    let stopped = false;
    try {
      await deploy(
        [
          'services:',
          '  long:',
          '    image: unused',
          '    command: ["sleep", "3"]',
          '    deploy:',
          '      mode: replicated-job',
          '      replicas: 2',
          '',
        ].join('\n'),
      );
      // The scheduler spreads the two tasks: one runs on the node about to be cut off.
      const onLossy = async () =>
        (await service('jobs_long')).tasks.find(
          (t) => t.nodeId === lossyId && t.status?.state === TaskState.TASK_STATE_RUNNING,
        );
      await expect.poll(onLossy, { timeout: 15_000, interval: 100 }).toBeDefined();
      const lost = (await onLossy()) as Task;
      // The agent goes away with its task (peers cannot reach it either): the node is lost, not just cut off.
      await lossy.stop();
      stopped = true;
      await expect
        .poll(async () => (await service('jobs_long')).tasks.find((t) => t.id === lost.id)?.status?.state, {
          timeout: 20_000,
          interval: 200,
        })
        .toBe(TaskState.TASK_STATE_ORPHANED);
      await expect
        .poll(() => progress('jobs_long'), { timeout: 30_000, interval: 200 })
        .toMatchObject({
          completed: 2,
          finished: true,
        });
      const { tasks } = await service('jobs_long');
      const again = tasks.filter((t) => t.slot === lost.slot && t.id !== lost.id);
      expect(again.map((t) => [t.status?.state, t.nodeId !== lossyId])).toEqual([
        [TaskState.TASK_STATE_COMPLETE, true],
      ]);
      expect(tasks.filter((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE)).toHaveLength(2);
      expect(violations).toEqual([]);
    } finally {
      if (!stopped) await lossy.stop();
    }
  });
});
