import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type ControlServiceClient,
  type ListServicesResponse,
  type ListTasksResponse,
  Service,
  ServiceChange_Action,
  ServiceMode,
  Task,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import { afterAll, describe, expect, it } from 'vitest';
import { runProgram } from './capture-io.test-helpers.js';
import { stackCommand } from './commands/stack.js';
import { deployVerdict, plainReporter } from './deploy-progress.js';
import type { Observation, Outcome, WatchedService } from './deploy-wait.js';
import { watchDeploy } from './deploy-watch.js';
import { buildProgram } from './index.js';
import type { Io } from './io.js';

const api = (version = 1n, status?: [UpdateStatus_State, string]) =>
  Service.fromPartial({
    id: 'a1',
    specVersion: version,
    spec: { annotations: { name: 'web_api' }, mode: ServiceMode.SERVICE_MODE_REPLICATED, replicas: 2n },
    ...(status ? { updateStatus: { state: status[0], specVersion: version, message: status[1] } } : {}),
  });
const runningTasks = (n: number, version = 1n) =>
  Array.from({ length: n }, (_, i) =>
    Task.fromPartial({
      id: `t${i}`,
      serviceId: 'a1',
      slot: BigInt(i + 1),
      specVersion: version,
      desiredState: TaskState.TASK_STATE_RUNNING,
      status: { state: TaskState.TASK_STATE_RUNNING },
    }),
  );
const watched: WatchedService[] = [{ name: 'web_api', id: 'a1', action: 'created' }];

/** A clock that moves only when the watcher sleeps. */
function fakeTime() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
}

describe('watchDeploy', () => {
  it('reports each change once and stops when every service has an outcome', async () => {
    const seen: Observation[] = [
      { services: [api()], tasks: [], nodes: [] },
      { services: [api()], tasks: [], nodes: [] },
      { services: [api()], tasks: runningTasks(1), nodes: [] },
      { services: [api()], tasks: runningTasks(2), nodes: [] },
    ];
    const changes: [string, Outcome][] = [];
    let polls = 0;
    const result = await watchDeploy({
      watched,
      observe: async () => seen[Math.min(polls++, seen.length - 1)] as Observation,
      timeoutMs: 60_000,
      onChange: (name, outcome) => changes.push([name, outcome]),
      ...fakeTime(),
    });
    expect(result.timedOut).toBe(false);
    expect(polls).toBe(4);
    expect(changes.map(([name, o]) => `${name} ${o.kind} ${o.progress}`)).toEqual([
      'web_api waiting 0/2 running',
      'web_api waiting 1/2 running',
      'web_api converged 2/2 running',
    ]);
  });

  it('times out with the progress so far, and retries a poll that failed', async () => {
    let polls = 0;
    const result = await watchDeploy({
      watched,
      observe: async () => {
        if (polls++ === 1) throw new Error('connection refused');
        return { services: [api()], tasks: runningTasks(1), nodes: [] };
      },
      timeoutMs: 2_000,
      onChange: () => {},
      ...fakeTime(),
    });
    expect(result).toMatchObject({ timedOut: true });
    expect(polls).toBe(5);
    expect(deployVerdict('web', ['web_api'], result, '2s')).toEqual({
      ok: false,
      error: [
        'stack web did not converge:',
        '  timed out after 2s: web_api 1/2 running',
        'see the tasks and their errors: flotilla stack ps web',
      ].join('\n'),
    });
  });

  it('keeps a failed service failed while it waits for the others', async () => {
    const db = Service.fromPartial({
      id: 'd1',
      specVersion: 1n,
      spec: { annotations: { name: 'web_db' }, replicas: 1n },
    });
    const paused = api(2n, [UpdateStatus_State.STATE_PAUSED, 'update paused: 1 of 2 new tasks failed (boom)']);
    const later = api(2n, [UpdateStatus_State.STATE_COMPLETED, 'update completed']);
    const dbTask = Task.fromPartial({
      id: 'd',
      serviceId: 'd1',
      slot: 1n,
      specVersion: 1n,
      desiredState: TaskState.TASK_STATE_RUNNING,
      status: { state: TaskState.TASK_STATE_RUNNING },
    });
    const seen: Observation[] = [
      { services: [paused, db], tasks: [], nodes: [] },
      { services: [later, db], tasks: [...runningTasks(2, 2n), dbTask], nodes: [] },
    ];
    let polls = 0;
    const both: WatchedService[] = [
      { name: 'web_api', id: 'a1', action: 'updated', versionBefore: 1n },
      { name: 'web_db', id: 'd1', action: 'created' },
    ];
    const result = await watchDeploy({
      watched: both,
      observe: async () => seen[Math.min(polls++, seen.length - 1)] as Observation,
      timeoutMs: 60_000,
      onChange: () => {},
      ...fakeTime(),
    });
    expect(result.outcomes.get('web_api')).toMatchObject({ kind: 'failed' });
    expect(result.outcomes.get('web_db')).toMatchObject({ kind: 'converged' });
    const verdict = deployVerdict('web', ['web_api', 'web_db'], result, '5m');
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.error).toContain('\n  web_api: update paused: 1 of 2 new tasks failed (boom)\n');
  });
});

describe('plainReporter', () => {
  it('writes one line per change', () => {
    let out = '';
    const reporter = plainReporter((t) => {
      out += t;
    });
    reporter.change('web_api', { kind: 'waiting', progress: '1/3 running (spec 2), update in progress' });
    reporter.change('web_api', { kind: 'converged', progress: '3/3 running (spec 2), healthy' });
    reporter.change('web_db', { kind: 'failed', progress: '0/1 running', reason: 'update paused: x' });
    expect(out).toBe(
      [
        'web_api: 1/3 running (spec 2), update in progress',
        'web_api: converged, 3/3 running (spec 2), healthy',
        'web_db: failed: update paused: x',
        '',
      ].join('\n'),
    );
  });
});

describe('stack deploy --wait', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'deploy-wait-'));
  const file = path.join(dir, 'stack.yml');
  writeFileSync(file, 'services:\n  api:\n    image: api:1\n    deploy:\n      replicas: 2\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A control client that answers from a script of observations; every call is recorded. */
  function fakeClient(observations: { services: Service[]; tasks: Task[] }[]) {
    const calls: string[] = [];
    let polls = 0;
    const answer = <T>(name: string, reply: () => T) => {
      return (_req: unknown, _md: unknown, _opts: unknown, cb: (err: null, res: T) => void) => {
        calls.push(name);
        cb(null, reply());
      };
    };
    const current = () => observations[Math.min(polls, observations.length - 1)] as (typeof observations)[number];
    const client = {
      deployStack: answer('deployStack', () => ({
        changes: [{ name: 'web_api', id: 'a1', action: ServiceChange_Action.ACTION_CREATED }],
      })),
      listServices: answer(
        'listServices',
        (): ListServicesResponse => ({
          services: current().services.map((service) => ({
            service,
            running: 0n,
            desired: 0n,
            completed: 0n,
            completions: 0n,
          })),
        }),
      ),
      listTasks: answer('listTasks', (): ListTasksResponse => {
        const tasks = current().tasks;
        polls++;
        return { tasks, nodeNames: {} };
      }),
      close: () => {},
    };
    return { client: client as unknown as ControlServiceClient, calls };
  }

  function deploy(client: ControlServiceClient, ...args: string[]) {
    const build = (io: Io) => buildProgram([(io) => stackCommand(io, () => client)], io);
    // The client is a fake: no registry to pin the images with.
    return runProgram(build, ['stack', 'deploy', '-c', file, 'web', ...args], {
      env: { FLOTILLA_RESOLVE_IMAGE: 'never' },
    });
  }

  it('waits until the services converge and exits 0', async () => {
    const { client, calls } = fakeClient([
      { services: [api()], tasks: runningTasks(1) },
      { services: [api()], tasks: runningTasks(2) },
    ]);
    const result = await deploy(client, '--wait');
    expect(result).toEqual({
      code: 0,
      out: [
        'Creating service web_api',
        'web_api: 1/2 running',
        'web_api: converged, 2/2 running',
        'stack web: 1 service converged',
        '',
      ].join('\n'),
      err: '',
    });
    expect(calls.slice(0, 2)).toEqual(['listServices', 'deployStack']);
  });

  it('exits 1 with each failed service and its reason', async () => {
    const { client } = fakeClient([
      {
        services: [api(2n, [UpdateStatus_State.STATE_PAUSED, 'update paused: 1 of 2 new tasks failed (exit 1)'])],
        tasks: runningTasks(2),
      },
    ]);
    const result = await deploy(client, '--wait');
    expect(result.code).toBe(1);
    expect(result.out).toContain('web_api: failed: update paused: 1 of 2 new tasks failed (exit 1)\n');
    expect(result.err).toBe(
      [
        'flotilla: stack web did not converge:',
        '  web_api: update paused: 1 of 2 new tasks failed (exit 1)',
        'see the tasks and their errors: flotilla stack ps web',
        '',
      ].join('\n'),
    );
  });

  it('times out after --timeout', async () => {
    const { client } = fakeClient([{ services: [api()], tasks: runningTasks(1) }]);
    const result = await deploy(client, '--wait', '--timeout', '600ms');
    expect(result.code).toBe(1);
    expect(result.err).toContain('timed out after 600ms: web_api 1/2 running');
  });

  it('--no-wait (and the default off a terminal) returns once the deploy is written', async () => {
    for (const args of [['--no-wait'], []]) {
      const { client, calls } = fakeClient([{ services: [api()], tasks: [] }]);
      const result = await deploy(client, ...args);
      expect(result).toEqual({ code: 0, out: 'Creating service web_api\n', err: '' });
      expect(calls).toEqual(['deployStack']);
    }
  });

  it('refuses a timeout that is not a duration', async () => {
    const { client, calls } = fakeClient([]);
    expect((await deploy(client, '--wait', '--timeout', 'soon')).code).toBe(2);
    expect((await deploy(client, '--wait', '--timeout', '0s')).code).toBe(2);
    expect(calls).toEqual([]);
  });
});
