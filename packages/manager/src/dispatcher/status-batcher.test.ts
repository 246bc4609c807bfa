import { TaskHealth, TaskState, TaskStatus } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { statusChange } from './status-batcher.js';

const running = TaskStatus.fromPartial({ state: TaskState.TASK_STATE_RUNNING, timestampMs: 5n, message: 'started' });

describe('which status reports are written', () => {
  it('writes a state that moves forward, and refuses one that moves back', () => {
    expect(statusChange(undefined, running)).toBe('write');
    expect(statusChange(TaskStatus.fromPartial({ state: TaskState.TASK_STATE_STARTING }), running)).toBe('write');
    const failed = TaskStatus.fromPartial({ state: TaskState.TASK_STATE_FAILED, error: 'unhealthy: x' });
    expect(statusChange(running, failed)).toBe('write');
    expect(statusChange(failed, { ...running, health: TaskHealth.TASK_HEALTH_HEALTHY })).toBe('stale');
    expect(statusChange(running, TaskStatus.fromPartial({ state: TaskState.TASK_STATE_PREPARING }))).toBe('stale');
  });

  it('writes a report in the same state that says something new: health, its output, a progress message', () => {
    const healthy = { ...running, health: TaskHealth.TASK_HEALTH_HEALTHY, healthOutput: 'ok' };
    expect(statusChange(running, healthy)).toBe('write');
    expect(statusChange(healthy, { ...healthy, health: TaskHealth.TASK_HEALTH_UNHEALTHY })).toBe('write');
    expect(statusChange(healthy, { ...healthy, healthOutput: 'slow' })).toBe('write');
    const preparing = TaskStatus.fromPartial({ state: TaskState.TASK_STATE_PREPARING, message: 'preparing' });
    expect(statusChange(preparing, { ...preparing, message: 'pulling nginx: 40%' })).toBe('write');
  });

  it('does not write a report that says again what is stored', () => {
    expect(statusChange(running, { ...running })).toBe('unchanged');
    // An absent health is the same as none.
    expect(statusChange(running, { ...running, health: TaskHealth.TASK_HEALTH_UNSPECIFIED, healthOutput: '' })).toBe(
      'unchanged',
    );
  });
});
