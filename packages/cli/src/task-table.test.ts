import { ListTasksResponse, Task, TaskHealth, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatTasks, shortImage } from './task-table.js';

const now = 1_000_000;
const response = (health?: TaskHealth, state = TaskState.TASK_STATE_RUNNING) =>
  ListTasksResponse.fromPartial({
    tasks: [
      Task.fromPartial({
        id: 'abcdef0123456789',
        serviceId: 's',
        serviceName: 'web_web',
        slot: 1n,
        nodeId: 'n1',
        desiredState: TaskState.TASK_STATE_RUNNING,
        spec: { image: 'nginx' },
        status: {
          state,
          timestampMs: BigInt(now - 3_000),
          ...(health === undefined ? {} : { health, healthOutput: 'GET /: 200' }),
        },
      }),
    ],
    nodeNames: { n1: 'node-1' },
  });

describe('task table', () => {
  it('shows the health of a running task after its state', () => {
    expect(formatTasks(response(TaskHealth.TASK_HEALTH_HEALTHY), 'table', now)).toContain(
      'running (healthy) 3 seconds ago',
    );
    expect(formatTasks(response(TaskHealth.TASK_HEALTH_STARTING), 'table', now)).toContain(
      'running (starting) 3 seconds ago',
    );
  });

  it('says nothing of health without a healthcheck, or once the task has ended', () => {
    expect(formatTasks(response(), 'table', now)).toMatch(/running\s+running 3 seconds ago/);
    expect(
      formatTasks(response(TaskHealth.TASK_HEALTH_UNHEALTHY, TaskState.TASK_STATE_FAILED), 'table', now),
    ).toContain('failed 3 seconds ago');
  });

  it('shows a completed task as complete with its exit code, and a failed one with its code', () => {
    const completed = response(undefined, TaskState.TASK_STATE_COMPLETE);
    expect(formatTasks(completed, 'table', now)).toContain('complete (exit 0) 3 seconds ago');
    const failed = response(undefined, TaskState.TASK_STATE_FAILED);
    failed.tasks[0]!.status!.exitCode = 3;
    expect(formatTasks(failed, 'table', now)).toContain('failed (exit 3) 3 seconds ago');
    // A running task has no exit code to show.
    expect(formatTasks(response(), 'table', now)).not.toContain('exit');
  });

  it("gives health in docker's JSON in lower case, and the last probe output in raw JSON", () => {
    const [task] = JSON.parse(formatTasks(response(TaskHealth.TASK_HEALTH_HEALTHY), 'json', now));
    expect(task).toMatchObject({
      State: 'running',
      Health: 'healthy',
      CurrentState: 'running (healthy) 3 seconds ago',
    });
    expect(JSON.stringify(task)).not.toContain('TASK_');
    const [raw] = JSON.parse(formatTasks(response(TaskHealth.TASK_HEALTH_HEALTHY), 'raw', now));
    expect(raw.status).toMatchObject({
      state: 'TASK_STATE_RUNNING',
      health: 'TASK_HEALTH_HEALTHY',
      healthOutput: 'GET /: 200',
    });
  });

  it("prints a template over docker's fields", () => {
    expect(formatTasks(response(), '{{.Name}} {{.Node}} {{.State}}', now)).toBe('web_web.1 node-1 running\n');
  });
});

describe('pinned images', () => {
  const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
  const pinned = ListTasksResponse.fromPartial({
    tasks: [
      Task.fromPartial({
        id: 'abcdef0123456789',
        serviceName: 'web_web',
        slot: 1n,
        spec: { image: `127.0.0.1:5000/app:1@${digest}` },
        status: { state: TaskState.TASK_STATE_RUNNING, timestampMs: BigInt(now) },
      }),
    ],
  });

  it('shows the tag and a short digest in the table, the whole digest in JSON', () => {
    expect(formatTasks(pinned, 'table', now)).toContain('127.0.0.1:5000/app:1@sha256:0123456789ab ');
    expect(formatTasks(pinned, 'table', now)).not.toContain(digest);
    expect(JSON.parse(formatTasks(pinned, 'json', now))[0].Image).toBe(`127.0.0.1:5000/app:1@${digest}`);
  });

  it('leaves an image without a digest as it is', () => {
    expect(shortImage('nginx:1.27')).toBe('nginx:1.27');
    expect(shortImage(`app@${digest}`)).toBe('app@sha256:0123456789ab');
  });
});
