import {
  Node,
  NodeSpec_Availability,
  NodeStatus_State,
  Service,
  ServiceMode,
  type ServiceSpec,
  Task,
  TaskHealth,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { deployOutcomes, type Observation, type Outcome, type WatchedService } from './deploy-wait.js';

function service(fields: { version?: bigint; status?: [UpdateStatus_State, bigint, string?] } & Partial<ServiceSpec>) {
  const { version = 1n, status, ...spec } = fields;
  return Service.fromPartial({
    id: 'svc',
    specVersion: version,
    spec: {
      annotations: { name: 'web_api' },
      mode: ServiceMode.SERVICE_MODE_REPLICATED,
      replicas: 3n,
      container: { image: 'api:1' },
      ...spec,
    },
    ...(status
      ? { updateStatus: { state: status[0], specVersion: status[1], message: status[2] ?? '', startedAtMs: 1n } }
      : {}),
  });
}

let created = 0;
function task(fields: Partial<Task> & { state?: TaskState; health?: TaskHealth; error?: string } = {}): Task {
  const { state = TaskState.TASK_STATE_RUNNING, health, error, ...rest } = fields;
  created++;
  return Task.fromPartial({
    id: `t${String(created).padStart(4, '0')}`,
    serviceId: 'svc',
    slot: 1n,
    specVersion: 1n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    createdAtMs: BigInt(created),
    status: { state, timestampMs: 1n, ...(health ? { health } : {}), ...(error ? { error } : {}) },
    ...rest,
  });
}

const running = (n: number, fields: Partial<Task> & { health?: TaskHealth } = {}) =>
  Array.from({ length: n }, (_, i) => task({ slot: BigInt(i + 1), ...fields }));

function node(id: string, fields: { down?: boolean; drain?: boolean; labels?: Record<string, string> } = {}) {
  return Node.fromPartial({
    id,
    description: { hostname: id, os: 'linux', architecture: 'x86_64' },
    spec: {
      availability: fields.drain ? NodeSpec_Availability.AVAILABILITY_DRAIN : NodeSpec_Availability.AVAILABILITY_ACTIVE,
      labels: fields.labels ?? {},
    },
    status: { state: fields.down ? NodeStatus_State.STATE_DOWN : NodeStatus_State.STATE_READY },
  });
}

const created1: WatchedService = { name: 'web_api', id: 'svc', action: 'created' };
const updated = (versionBefore = 3n): WatchedService => ({
  name: 'web_api',
  id: 'svc',
  action: 'updated',
  versionBefore,
});

function one(w: WatchedService, seen: Partial<Observation>): Outcome {
  const outcome = deployOutcomes([w], { services: [], tasks: [], nodes: [], ...seen }).get(w.name);
  if (!outcome) throw new Error('no outcome');
  return outcome;
}

describe('deployOutcomes', () => {
  it('a created service converges once its replicas run', () => {
    const s = service({});
    expect(one(created1, { services: [s], tasks: [] })).toEqual({ kind: 'waiting', progress: '0/3 running' });
    const partly = [...running(2), task({ slot: 3n, state: TaskState.TASK_STATE_PREPARING })];
    expect(one(created1, { services: [s], tasks: partly })).toEqual({ kind: 'waiting', progress: '2/3 running' });
    expect(one(created1, { services: [s], tasks: running(3) })).toEqual({ kind: 'converged', progress: '3/3 running' });
  });

  it('says why a task waits to be placed', () => {
    const pending = task({
      slot: 3n,
      status: {
        state: TaskState.TASK_STATE_PENDING,
        timestampMs: 1n,
        message: 'no suitable node (insufficient memory on 3 nodes)',
        error: '',
        exitCode: 0,
      },
    });
    expect(one(created1, { services: [service({})], tasks: [...running(2), pending] })).toEqual({
      kind: 'waiting',
      progress: '2/3 running, pending: no suitable node (insufficient memory on 3 nodes)',
    });
  });

  it('an update in progress is not converged, even with every task already running the new spec', () => {
    const s = service({ version: 4n, status: [UpdateStatus_State.STATE_UPDATING, 4n, 'update in progress'] });
    const tasks = [...running(2, { specVersion: 4n }), task({ slot: 3n, specVersion: 3n })];
    expect(one(updated(), { services: [s], tasks })).toEqual({
      kind: 'waiting',
      progress: '2/3 running (spec 4), update in progress',
    });
    // The last batch is within its monitor period: the update has not completed yet.
    expect(one(updated(), { services: [s], tasks: running(3, { specVersion: 4n }) }).kind).toBe('waiting');
    const done = service({ version: 4n, status: [UpdateStatus_State.STATE_COMPLETED, 4n, 'update completed'] });
    expect(one(updated(), { services: [done], tasks: running(3, { specVersion: 4n }) })).toEqual({
      kind: 'converged',
      progress: '3/3 running (spec 4)',
    });
  });

  it('an update that has not started yet waits for the old tasks to be replaced', () => {
    // The deploy wrote version 4; the orchestrator has not marked the update started.
    const s = service({ version: 4n, status: [UpdateStatus_State.STATE_COMPLETED, 3n, 'update completed'] });
    expect(one(updated(), { services: [s], tasks: running(3, { specVersion: 3n }) })).toEqual({
      kind: 'waiting',
      progress: '0/3 running (spec 4), 3 on an older spec',
    });
  });

  it('a paused update fails the service with its message', () => {
    const message = 'update paused: 1 of 6 new tasks failed (exited with code 1)';
    const s = service({ version: 4n, status: [UpdateStatus_State.STATE_PAUSED, 4n, message] });
    expect(one(updated(), { services: [s], tasks: running(3, { specVersion: 3n }) })).toMatchObject({
      kind: 'failed',
      reason: message,
    });
  });

  it('a rollback of the deployed version fails the service, started or completed', () => {
    // Rolling back writes the previous spec as a new version (4 → 5).
    const started = service({
      version: 5n,
      status: [
        UpdateStatus_State.STATE_ROLLBACK_STARTED,
        5n,
        'update rolled back: 2 of 3 new tasks failed (simulated failure)',
      ],
    });
    expect(one(updated(), { services: [started], tasks: running(3, { specVersion: 3n }) })).toMatchObject({
      kind: 'failed',
      reason: 'update rolled back: 2 of 3 new tasks failed (simulated failure)',
    });
    const completed = service({
      version: 5n,
      status: [UpdateStatus_State.STATE_ROLLBACK_COMPLETED, 5n, 'rollback completed'],
    });
    expect(one(updated(), { services: [completed], tasks: running(3, { specVersion: 5n }) })).toMatchObject({
      kind: 'failed',
      reason: 'rollback completed',
    });
    const paused = service({
      version: 5n,
      status: [UpdateStatus_State.STATE_ROLLBACK_PAUSED, 5n, 'rollback paused: x'],
    });
    expect(one(updated(), { services: [paused], tasks: [] })).toMatchObject({
      kind: 'failed',
      reason: 'rollback paused: x',
    });
  });

  it('a rollback the operator asked for (service rollback) is its aim: followed to convergence, failed if it pauses', () => {
    const asked: WatchedService = { ...updated(4n), rollback: true };
    const started = service({ version: 5n, status: [UpdateStatus_State.STATE_ROLLBACK_STARTED, 5n, 'asked'] });
    expect(one(asked, { services: [started], tasks: running(3, { specVersion: 4n }) }).kind).toBe('waiting');
    const completed = service({
      version: 5n,
      status: [UpdateStatus_State.STATE_ROLLBACK_COMPLETED, 5n, 'rollback completed'],
    });
    expect(one(asked, { services: [completed], tasks: running(3, { specVersion: 5n }) }).kind).toBe('converged');
    const paused = service({
      version: 5n,
      status: [UpdateStatus_State.STATE_ROLLBACK_PAUSED, 5n, 'rollback paused: x'],
    });
    expect(one(asked, { services: [paused], tasks: [] })).toMatchObject({
      kind: 'failed',
      reason: 'rollback paused: x',
    });
  });

  it('an earlier rollback does not fail a scale-only or unchanged deploy', () => {
    const s = service({ version: 5n, status: [UpdateStatus_State.STATE_ROLLBACK_COMPLETED, 5n, 'rollback completed'] });
    const tasks = running(3, { specVersion: 5n });
    expect(one(updated(5n), { services: [s], tasks }).kind).toBe('converged');
    expect(
      one({ name: 'web_api', id: 'svc', action: 'unchanged', versionBefore: 5n }, { services: [s], tasks }).kind,
    ).toBe('converged');
  });

  it('after a rollback, the tasks it kept (of the version it brought back) count as running the current spec', () => {
    const s = {
      ...service({ version: 5n, status: [UpdateStatus_State.STATE_ROLLBACK_COMPLETED, 5n, 'rollback completed'] }),
      sameTaskSpecVersions: [3n],
    };
    const kept = running(3, { specVersion: 3n });
    const w: WatchedService = { name: 'web_api', id: 'svc', action: 'unchanged', versionBefore: 5n };
    expect(one(w, { services: [s], tasks: kept })).toEqual({ kind: 'converged', progress: '3/3 running (spec 5)' });
    // Tasks of the failed release (4) are not: they are outdated.
    const failedRelease = [...running(2, { specVersion: 3n }), task({ slot: 3n, specVersion: 4n })];
    expect(one(w, { services: [s], tasks: failedRelease }).kind).toBe('waiting');
  });

  it('an unchanged service whose update is paused has not converged: it fails', () => {
    const s = service({
      version: 2n,
      status: [UpdateStatus_State.STATE_PAUSED, 2n, 'update paused: 1 of 3 new tasks failed (x)'],
    });
    const w: WatchedService = { name: 'web_api', id: 'svc', action: 'unchanged', versionBefore: 2n };
    expect(one(w, { services: [s], tasks: running(3, { specVersion: 1n }) })).toMatchObject({ kind: 'failed' });
  });

  it('a scale-only update converges on the same spec version when the new replicas run', () => {
    const s = service({
      version: 3n,
      replicas: 5n,
      status: [UpdateStatus_State.STATE_COMPLETED, 3n, 'update completed'],
    });
    expect(one(updated(3n), { services: [s], tasks: running(3, { specVersion: 3n }) })).toEqual({
      kind: 'waiting',
      progress: '3/5 running (spec 3)',
    });
    expect(one(updated(3n), { services: [s], tasks: running(5, { specVersion: 3n }) }).kind).toBe('converged');
  });

  it('scaling down converges once the extra tasks are no longer meant to run', () => {
    const s = service({ version: 2n, replicas: 1n });
    const extra = task({ slot: 2n, specVersion: 2n, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    expect(one(updated(2n), { services: [s], tasks: [task({ specVersion: 2n }), extra] })).toEqual({
      kind: 'converged',
      progress: '1/1 running (spec 2)',
    });
  });

  it('an unchanged service that runs converges at once', () => {
    const w: WatchedService = { name: 'web_api', id: 'svc', action: 'unchanged', versionBefore: 1n };
    expect(one(w, { services: [service({})], tasks: running(3) }).kind).toBe('converged');
  });

  it('a removed service is done when it is gone', () => {
    const w: WatchedService = { name: 'web_old', id: 'old', action: 'removed', versionBefore: 1n };
    const old = Service.fromPartial({ id: 'old', spec: { annotations: { name: 'web_old' } } });
    expect(one(w, { services: [old] })).toEqual({ kind: 'waiting', progress: 'removing' });
    expect(one(w, { services: [] })).toEqual({ kind: 'converged', progress: 'removed' });
  });

  it('a service removed by someone else while waiting fails', () => {
    expect(one(created1, { services: [] })).toMatchObject({ kind: 'failed' });
  });

  it('a task with a healthcheck counts only once healthy', () => {
    const healthcheck = { test: ['CMD', 'true'] };
    const s = service({ container: { image: 'api:1', healthcheck } as ServiceSpec['container'] });
    const spec = { image: 'api:1', healthcheck } as Task['spec'];
    const tasks = [
      ...running(2, { spec, health: TaskHealth.TASK_HEALTH_HEALTHY }),
      task({ slot: 3n, spec, health: TaskHealth.TASK_HEALTH_STARTING }),
    ];
    expect(one(created1, { services: [s], tasks })).toEqual({
      kind: 'waiting',
      progress: '2/3 running, 1 not healthy yet',
    });
    // Running with a healthcheck but no health reported yet is not healthy either.
    const unreported = [...running(2, { spec, health: TaskHealth.TASK_HEALTH_HEALTHY }), task({ slot: 3n, spec })];
    expect(one(created1, { services: [s], tasks: unreported }).kind).toBe('waiting');
    const unhealthy = [
      ...running(2, { spec, health: TaskHealth.TASK_HEALTH_HEALTHY }),
      task({ slot: 3n, spec, health: TaskHealth.TASK_HEALTH_UNHEALTHY }),
    ];
    expect(one(created1, { services: [s], tasks: unhealthy }).kind).toBe('waiting');
    const all = running(3, { spec, health: TaskHealth.TASK_HEALTH_HEALTHY });
    expect(one(created1, { services: [s], tasks: all })).toEqual({
      kind: 'converged',
      progress: '3/3 running, healthy',
    });
  });

  it('a healthcheck inherited from the image still holds a task back while it starts', () => {
    const tasks = [...running(2), task({ slot: 3n, health: TaskHealth.TASK_HEALTH_STARTING })];
    expect(one(created1, { services: [service({})], tasks }).kind).toBe('waiting');
  });

  it('a new service whose tasks keep failing fails after three in a row, with the task error', () => {
    const s = service({ replicas: 1n });
    const fail = () =>
      task({
        state: TaskState.TASK_STATE_REJECTED,
        desiredState: TaskState.TASK_STATE_SHUTDOWN,
        error: 'pull failed: image api:1 not found',
      });
    const two = [fail(), fail(), task({ state: TaskState.TASK_STATE_PENDING })];
    expect(one(created1, { services: [s], tasks: two }).kind).toBe('waiting');
    const three = [...two.slice(0, 2), fail(), task({ state: TaskState.TASK_STATE_PENDING })];
    expect(one(created1, { services: [s], tasks: three })).toEqual({
      kind: 'failed',
      progress: '0/1 running',
      reason: '3 tasks in a row failed to run (pull failed: image api:1 not found)',
    });
  });

  it('failures broken by a run, or of an older version, are not a failing service', () => {
    const s = service({ version: 2n, replicas: 1n });
    const fail = (specVersion: bigint) =>
      task({ specVersion, state: TaskState.TASK_STATE_FAILED, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    const ok = () =>
      task({ specVersion: 2n, state: TaskState.TASK_STATE_SHUTDOWN, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    // Oldest first: two failures of version 1, one of version 2, a task that ran and was stopped, two more.
    const tasks = [
      fail(1n),
      fail(1n),
      fail(2n),
      ok(),
      fail(2n),
      fail(2n),
      task({ specVersion: 2n, state: TaskState.TASK_STATE_PENDING }),
    ];
    expect(one(updated(1n), { services: [s], tasks }).kind).toBe('waiting');
  });

  it('failures during an update are for the update policy to judge', () => {
    const s = service({
      version: 4n,
      replicas: 1n,
      status: [UpdateStatus_State.STATE_UPDATING, 4n, 'update in progress'],
    });
    const fail = () =>
      task({ specVersion: 4n, state: TaskState.TASK_STATE_FAILED, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    expect(one(updated(), { services: [s], tasks: [fail(), fail(), fail()] }).kind).toBe('waiting');
  });

  it('a global service converges when every eligible node runs the current version', () => {
    const s = service({
      mode: ServiceMode.SERVICE_MODE_GLOBAL,
      version: 2n,
      status: [UpdateStatus_State.STATE_COMPLETED, 2n, 'update completed'],
    });
    const nodes = [node('n1'), node('n2'), node('n3', { down: true }), node('n4', { drain: true })];
    const on = (nodeId: string, specVersion = 2n) => task({ slot: 0n, nodeId, specVersion });
    expect(one(updated(1n), { services: [s], tasks: [on('n1')], nodes })).toEqual({
      kind: 'waiting',
      progress: '1/2 running (spec 2)',
    });
    expect(one(updated(1n), { services: [s], tasks: [on('n1'), on('n2', 1n)], nodes })).toEqual({
      kind: 'waiting',
      progress: '1/2 running (spec 2), 1 on an older spec',
    });
    expect(one(updated(1n), { services: [s], tasks: [on('n1'), on('n2')], nodes })).toEqual({
      kind: 'converged',
      progress: '2/2 running (spec 2)',
    });
  });

  it('a global service follows its placement constraints', () => {
    const s = service({
      mode: ServiceMode.SERVICE_MODE_GLOBAL,
      placement: { constraints: [{ field: 'node.labels.zone', operator: 1, value: 'a' }] } as ServiceSpec['placement'],
    });
    const nodes = [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } })];
    expect(one(created1, { services: [s], tasks: [task({ slot: 0n, nodeId: 'n1' })], nodes }).kind).toBe('converged');
  });

  it('a global sidecar converges once it runs beside every task of its main service, not on every node', () => {
    const zoneA = { constraints: [{ field: 'node.labels.zone', operator: 1, value: 'a' }] } as ServiceSpec['placement'];
    const main = Service.fromPartial({
      id: 'agent',
      specVersion: 1n,
      spec: { annotations: { name: 'web_agent' }, mode: ServiceMode.SERVICE_MODE_GLOBAL, placement: zoneA },
    });
    const side = service({
      mode: ServiceMode.SERVICE_MODE_GLOBAL,
      sidecar: { service: 'web_agent', shareNetwork: true, volumesFrom: [] },
    });
    const nodes = [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } })];
    const observed = (tasks: Task[]) => ({ services: [side, main], tasks, nodes });
    expect(one(created1, observed([task({ slot: 0n, nodeId: 'n1' })])).kind).toBe('converged');
    expect(one(created1, observed([])).kind).toBe('waiting');
  });

  it('reports every watched service, by name', () => {
    const other = Service.fromPartial({
      id: 'db',
      specVersion: 1n,
      spec: { annotations: { name: 'web_db' }, replicas: 1n },
    });
    const outcomes = deployOutcomes([created1, { name: 'web_db', id: 'db', action: 'unchanged', versionBefore: 1n }], {
      services: [service({}), other],
      tasks: [...running(3), task({ serviceId: 'db' })],
      nodes: [],
    });
    expect([...outcomes].map(([name, o]) => [name, o.kind])).toEqual([
      ['web_api', 'converged'],
      ['web_db', 'converged'],
    ]);
  });
});

describe('deployOutcomes for jobs', () => {
  const job = (version = 1n) =>
    service({
      version,
      mode: ServiceMode.SERVICE_MODE_REPLICATED_JOB,
      replicas: 2n,
      job: { maxConcurrent: 2n, totalCompletions: 3n },
    });
  const done = (slot: bigint, version = 1n) =>
    task({
      slot,
      specVersion: version,
      state: TaskState.TASK_STATE_COMPLETE,
      desiredState: TaskState.TASK_STATE_COMPLETE,
    });

  it('waits while the run goes on, running tasks being no convergence for a job', () => {
    const outcome = one(created1, { services: [job()], tasks: [done(1n), task({ slot: 2n }), task({ slot: 3n })] });
    expect(outcome).toEqual({ kind: 'waiting', progress: '1/3 completed, 2 running' });
  });

  it('converges once every completion is reached', () => {
    expect(one(created1, { services: [job()], tasks: [done(1n), done(2n), done(3n)] })).toEqual({
      kind: 'converged',
      progress: '3/3 completed',
    });
  });

  it('does not count completions of an earlier run (update --force runs it again)', () => {
    const outcome = one(updated(1n), { services: [job(2n)], tasks: [done(1n), done(2n), done(3n)] });
    expect(outcome.kind).toBe('waiting');
  });

  it('fails once a task failed with no attempt left, naming the task and its exit code', () => {
    const failed = task({
      id: 'f00dfeedbeef0001',
      slot: 2n,
      serviceName: 'web_migrate',
      desiredState: TaskState.TASK_STATE_FAILED,
      status: {
        state: TaskState.TASK_STATE_FAILED,
        timestampMs: 1n,
        message: 'failed',
        error: 'exited with code 3',
        exitCode: 3,
      },
    });
    const outcome = one(created1, { services: [job()], tasks: [done(1n), failed] });
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.reason).toBe(
      'job task web_migrate.2 (f00dfeedbeef) failed (exited with code 3) and has no restart attempt left',
    );
  });

  it('does not fail on a failure the orchestrator will still retry', () => {
    const retried = task({ slot: 2n, state: TaskState.TASK_STATE_FAILED, error: 'exited with code 1' });
    expect(one(created1, { services: [job()], tasks: [done(1n), retried] }).kind).toBe('waiting');
  });
});
