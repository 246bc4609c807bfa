import { type ControlServiceClient, type Service, type Task, TaskState, UpdateStatus_State } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// Rolling updates end to end on hollow nodes: a real etcd and manager; the runtime is simulated, and the image
// `app:broken` never starts.
let cluster: TestCluster;
let manager: RunningManager;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
let group: HollowNodes;

beforeAll(async () => {
  cluster = await startTestCluster('update');
  ({ manager, control, rpc } = cluster);
  group = await HollowNodes.start({
    manager: manager.address,
    token: manager.identity.tokens.worker,
    count: 4,
    startDelayMs: 30,
    failImages: ['app:broken'],
  });
});

afterAll(async () => {
  group?.stop();
  await cluster?.stop();
});

function stack(image: string, update: string): string {
  return [
    'services:',
    '  web:',
    `    image: ${image}`,
    '    deploy:',
    '      replicas: 6',
    '      restart_policy: { condition: on-failure, delay: 100ms, max_attempts: 1 }',
    `      update_config: { ${update} }`,
    '      rollback_config: { parallelism: 0, monitor: 100ms }',
    '',
  ].join('\n');
}

async function deploy(name: string, yaml: string): Promise<void> {
  await rpc(control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, name), prune: true });
}

async function service(name: string): Promise<Service> {
  return (await rpc(control.getService, { service: name })).service as Service;
}

async function tasks(name: string): Promise<Task[]> {
  return (await rpc(control.listTasks, { service: name, stack: '', node: '' })).tasks;
}

const running = (ts: Task[]) =>
  ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING);

/** Samples the service until `done`, recording the most slots moving to the new version at once. */
async function watch(
  name: string,
  done: (s: Service, ts: Task[]) => boolean,
  timeoutMs = 20_000,
): Promise<{ service: Service; tasks: Task[]; maxNewNotSettled: number; minRunning: number }> {
  const deadline = Date.now() + timeoutMs;
  let maxNewNotSettled = 0;
  let minRunning = Number.POSITIVE_INFINITY;
  for (;;) {
    const [s, ts] = await Promise.all([service(name), tasks(name)]);
    const fresh = ts.filter((t) => t.specVersion === s.specVersion && t.desiredState === TaskState.TASK_STATE_RUNNING);
    maxNewNotSettled = Math.max(
      maxNewNotSettled,
      fresh.filter((t) => t.status?.state !== TaskState.TASK_STATE_RUNNING).length,
    );
    minRunning = Math.min(minRunning, running(ts).length);
    if (done(s, ts)) return { service: s, tasks: ts, maxNewNotSettled, minRunning };
    if (Date.now() > deadline) {
      throw new Error(`timed out: status ${JSON.stringify(s.updateStatus)}, ${running(ts).length} running`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const state = (s: Service) => s.updateStatus?.state;

describe('rolling updates on hollow nodes', () => {
  it('replaces tasks a batch at a time (parallelism 2, stop-first), then reports the update completed', async () => {
    await deploy('roll', stack('app:1', 'parallelism: 2, monitor: 200ms, delay: 0s'));
    await watch('roll_web', (_s, ts) => running(ts).length === 6);
    await deploy('roll', stack('app:2', 'parallelism: 2, monitor: 200ms, delay: 0s'));
    const seen = await watch('roll_web', (s) => state(s) === UpdateStatus_State.STATE_COMPLETED);
    // Each batch starts only once the one before has run for the monitor period.
    const fresh = seen.tasks
      .filter((t) => t.specVersion === seen.service.specVersion)
      .sort((a, b) => Number(a.createdAtMs - b.createdAtMs));
    for (let i = 2; i < fresh.length; i += 2) {
      const previousRunning = Math.max(...fresh.slice(i - 2, i).map((t) => Number(t.status?.timestampMs)));
      expect(Number(fresh[i]?.createdAtMs)).toBeGreaterThanOrEqual(previousRunning + 200);
    }
    expect(seen.maxNewNotSettled).toBeLessThanOrEqual(2);
    expect(running(seen.tasks).map((t) => t.spec?.image)).toEqual(Array(6).fill('app:2'));
    expect(seen.service.updateStatus?.message).toBe('update completed');
  });

  it('start-first never has fewer than the desired replicas running', async () => {
    await deploy('first', stack('app:1', 'parallelism: 1, order: start-first, monitor: 100ms'));
    await watch('first_web', (_s, ts) => running(ts).length === 6);
    await deploy('first', stack('app:2', 'parallelism: 1, order: start-first, monitor: 100ms'));
    const seen = await watch('first_web', (s) => state(s) === UpdateStatus_State.STATE_COMPLETED);
    expect(seen.minRunning).toBeGreaterThanOrEqual(6);
    expect(running(seen.tasks).every((t) => t.spec?.image === 'app:2')).toBe(true);
  });

  it('pauses an update whose new tasks fail, leaving the rest on the old version', async () => {
    await deploy('pause', stack('app:1', 'parallelism: 1, monitor: 200ms, failure_action: pause'));
    await watch('pause_web', (_s, ts) => running(ts).length === 6);
    await deploy('pause', stack('app:broken', 'parallelism: 1, monitor: 200ms, failure_action: pause'));
    const seen = await watch('pause_web', (s) => state(s) === UpdateStatus_State.STATE_PAUSED);
    expect(seen.service.updateStatus?.message).toMatch(/^update paused: 1 of 6 new tasks failed/);
    // Give it time: a paused update replaces nothing more.
    await new Promise((r) => setTimeout(r, 500));
    const after = await tasks('pause_web');
    expect(running(after).filter((t) => t.spec?.image === 'app:1').length).toBeGreaterThanOrEqual(5);
  });

  it('rolls back to the previous spec when failure_action is rollback', async () => {
    await deploy('back', stack('app:1', 'parallelism: 2, monitor: 200ms, failure_action: rollback'));
    await watch('back_web', (_s, ts) => running(ts).length === 6);
    await deploy('back', stack('app:broken', 'parallelism: 2, monitor: 200ms, failure_action: rollback'));
    const seen = await watch('back_web', (s) => state(s) === UpdateStatus_State.STATE_ROLLBACK_COMPLETED);
    expect(seen.service.spec?.container?.image).toBe('app:1');
    expect(running(seen.tasks).map((t) => t.spec?.image)).toEqual(Array(6).fill('app:1'));
  });

  it('continues past failures with failure_action: continue', async () => {
    await deploy('cont', stack('app:1', 'parallelism: 3, monitor: 100ms, failure_action: continue'));
    await watch('cont_web', (_s, ts) => running(ts).length === 6);
    await deploy('cont', stack('app:broken', 'parallelism: 3, monitor: 100ms, failure_action: continue'));
    // Every slot moves to the broken version (none runs): the update does not stop at the first failure.
    const seen = await watch(
      'cont_web',
      (s, ts) =>
        ts.filter((t) => t.specVersion === s.specVersion && t.status?.state === TaskState.TASK_STATE_FAILED).length >=
        6,
    );
    // Neither paused nor rolled back: still updating, or already completed (every slot has moved, and with
    // `continue` a moment with no new task in motion ends the update).
    expect([UpdateStatus_State.STATE_UPDATING, UpdateStatus_State.STATE_COMPLETED]).toContain(state(seen.service));
  });

  it('a scale-only change restarts nothing and starts no update', async () => {
    await deploy('scale', stack('app:1', 'parallelism: 1'));
    await watch('scale_web', (_s, ts) => running(ts).length === 6);
    const before = running(await tasks('scale_web')).map((t) => t.id);
    await deploy('scale', stack('app:1', 'parallelism: 1').replace('replicas: 6', 'replicas: 8'));
    const seen = await watch('scale_web', (_s, ts) => running(ts).length === 8);
    expect(running(seen.tasks).map((t) => t.id)).toEqual(expect.arrayContaining(before));
    expect(seen.service.updateStatus).toBeUndefined();
  });

  it('service update rolls out a new image and env; service rollback returns to the previous spec', async () => {
    await deploy('cli', stack('app:1', 'parallelism: 3, monitor: 100ms'));
    await watch('cli_web', (_s, ts) => running(ts).length === 6);
    const updated = await rpc(control.updateService, {
      service: 'cli_web',
      image: 'app:2',
      envAdd: ['MODE=prod'],
      envRm: [],
      force: false,
    });
    expect(updated.tasksReplaced).toBe(true);
    let seen = await watch('cli_web', (s) => state(s) === UpdateStatus_State.STATE_COMPLETED);
    expect(running(seen.tasks).every((t) => t.spec?.image === 'app:2' && t.spec.env.includes('MODE=prod'))).toBe(true);
    // Scaling through update replaces nothing.
    const scaled = await rpc(control.updateService, {
      service: 'cli_web',
      replicas: 7n,
      envAdd: [],
      envRm: [],
      force: false,
    });
    expect(scaled.tasksReplaced).toBe(false);
    await rpc(control.rollbackService, { service: 'cli_web' });
    seen = await watch('cli_web', (s) => state(s) === UpdateStatus_State.STATE_ROLLBACK_COMPLETED);
    expect(seen.service.spec?.container?.image).toBe('app:1');
    expect(running(seen.tasks).map((t) => t.spec?.image)).toEqual(Array(7).fill('app:1'));
    await expect(rpc(control.rollbackService, { service: 'scale_web' })).rejects.toThrow(/no previous spec/);
  });

  it('depends_on: a service starts only once its dependency runs', async () => {
    const app = (dbImage: string) =>
      [
        'services:',
        '  db:',
        `    image: ${dbImage}`,
        '    deploy: { restart_policy: { condition: on-failure, delay: 100ms } }',
        '  web:',
        '    image: app:1',
        '    depends_on: { db: { condition: service_started } }',
        '    deploy: { replicas: 2 }',
        '',
      ].join('\n');
    await deploy('deps', app('app:broken'));
    // The database never starts: the web tier waits, with no task made.
    await new Promise((r) => setTimeout(r, 800));
    expect(await tasks('deps_web')).toEqual([]);
    await deploy('deps', app('app:1'));
    const seen = await watch('deps_web', (_s, ts) => running(ts).length === 2);
    const dbRunning = running(await tasks('deps_db'));
    expect(dbRunning).toHaveLength(1);
    // Web's tasks were made only after the database ran.
    const dbStarted = Number(dbRunning[0]?.status?.timestampMs);
    expect(seen.tasks.every((t) => Number(t.createdAtMs) >= dbStarted)).toBe(true);
  });
});
