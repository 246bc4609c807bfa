import { Service, ServiceMode, Task, TaskHealth, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { plainReporter } from './deploy-progress.js';
import { slotProgress, stateWord } from './slot-progress.js';

const service = (replicas: bigint, specVersion = 2n, mode = ServiceMode.SERVICE_MODE_REPLICATED) =>
  Service.fromPartial({ id: 'svc', specVersion, spec: { mode, replicas } });

interface More {
  specVersion?: bigint;
  createdAtMs?: bigint;
  desiredState?: TaskState;
  nodeId?: string;
  status?: { state: TaskState; health?: TaskHealth; error?: string };
}

const task = (id: string, slot: bigint, state: TaskState, more: More = {}) =>
  Task.fromPartial({
    id,
    serviceId: 'svc',
    slot,
    specVersion: 2n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    createdAtMs: 10n,
    status: { state },
    ...more,
  });

describe('slotProgress', () => {
  it('says for every slot what its newest live task is doing, on which spec', () => {
    const slots = slotProgress(service(3n), [
      // Slot 1: the old task is shutting down, its replacement running.
      task('a', 1n, TaskState.TASK_STATE_RUNNING, {
        specVersion: 1n,
        createdAtMs: 1n,
        desiredState: TaskState.TASK_STATE_SHUTDOWN,
      }),
      task('b', 1n, TaskState.TASK_STATE_RUNNING, {
        status: { state: TaskState.TASK_STATE_RUNNING, health: TaskHealth.TASK_HEALTH_STARTING },
      }),
      // Slot 2: still on the old spec.
      task('c', 2n, TaskState.TASK_STATE_RUNNING, { specVersion: 1n }),
      // Slot 3 has no task yet; slot 4 is beyond the replicas and not shown.
      task('d', 4n, TaskState.TASK_STATE_RUNNING),
    ]);
    expect([...slots]).toEqual([
      ['1/3', 'running (health: starting) spec 2'],
      ['2/3', 'running old spec 1'],
      ['3/3', 'new'],
    ]);
  });

  it('gives a failed task its error, and a global service one line per node', () => {
    const failed = task('e', 1n, TaskState.TASK_STATE_FAILED, {
      desiredState: TaskState.TASK_STATE_SHUTDOWN,
      status: { state: TaskState.TASK_STATE_FAILED, error: 'exited with code 3' },
    });
    expect(slotProgress(service(1n), [failed]).get('1/1')).toBe('failed spec 2: exited with code 3');
    const global = service(0n, 2n, ServiceMode.SERVICE_MODE_GLOBAL);
    const onNodes = [
      task('f', 0n, TaskState.TASK_STATE_PREPARING, { nodeId: 'node-b-0123456789' }),
      task('g', 0n, TaskState.TASK_STATE_RUNNING, { nodeId: 'node-a-0123456789' }),
    ];
    expect([...slotProgress(global, onNodes)]).toEqual([
      ['node-a-01234', 'running spec 2'],
      ['node-b-01234', 'preparing spec 2'],
    ]);
    expect(stateWord(TaskState.TASK_STATE_REJECTED)).toBe('rejected');
  });

  it('off a terminal, each slot line is written once per change', () => {
    let text = '';
    const reporter = plainReporter((t) => {
      text += t;
    });
    reporter.detail?.(
      'web',
      new Map([
        ['1/2', 'preparing spec 1'],
        ['2/2', 'new'],
      ]),
    );
    reporter.detail?.(
      'web',
      new Map([
        ['1/2', 'running spec 1'],
        ['2/2', 'new'],
      ]),
    );
    expect(text).toBe('  web 1/2: preparing spec 1\n  web 2/2: new\n  web 1/2: running spec 1\n');
  });
});
