import { Task, TaskState, type TaskStatus } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { type ExecResult, type Executor, type Exit, RejectedError } from './executor/executor.js';
import { Worker } from './worker.js';

/** An executor whose processes end when the test says so. */
class FakeExecutor implements Executor {
  readonly name = 'fake';
  readonly exits = new Map<string, (exit: Exit) => void>();
  readonly waits = new Map<string, Promise<Exit>>();
  readonly shutdowns: string[] = [];
  async prepare(task: Task): Promise<void> {
    if (task.spec?.image === 'missing') throw new RejectedError('no such image');
  }
  async start(task: Task): Promise<void> {
    this.waits.set(task.id, new Promise((resolve) => this.exits.set(task.id, resolve)));
  }
  wait(taskId: string): Promise<Exit> {
    return this.waits.get(taskId) ?? Promise.resolve({ exitCode: 0 });
  }
  async shutdown(taskId: string): Promise<void> {
    this.shutdowns.push(taskId);
    this.exits.get(taskId)?.({ exitCode: 143, signal: 'SIGTERM' });
  }
  async remove(): Promise<void> {}
  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: '' };
  }
  async adopt(): Promise<boolean> {
    return false;
  }
}

function setup() {
  const executor = new FakeExecutor();
  const reports: { taskId: string; status: TaskStatus }[] = [];
  let connected = true;
  const worker = new Worker({
    executor,
    report: (updates) => {
      if (connected) reports.push(...updates);
      return connected;
    },
    flushMs: 5,
  });
  const states = (id: string) => reports.filter((r) => r.taskId === id).map((r) => r.status.state);
  return { executor, worker, reports, states, setConnected: (c: boolean) => (connected = c) };
}

const task = (id: string, overrides: Partial<Task> = {}) =>
  Task.fromPartial({
    id,
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state: TaskState.TASK_STATE_ASSIGNED },
    spec: { image: 'app' },
    ...overrides,
  });
const settle = () => new Promise((r) => setTimeout(r, 30));

describe('worker', () => {
  it('runs an assigned task through its states to running, then reports how it ended', async () => {
    const { executor, worker, states, reports } = setup();
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [] });
    await settle();
    expect(states('a').at(-1)).toBe(TaskState.TASK_STATE_RUNNING);
    executor.exits.get('a')?.({ exitCode: 2 });
    await settle();
    const last = reports.filter((r) => r.taskId === 'a').at(-1)?.status;
    expect(last).toMatchObject({ state: TaskState.TASK_STATE_FAILED, exitCode: 2, error: 'exited with code 2' });
    await worker.stop();
  });

  it('rejects what the runtime cannot run, with the reason', async () => {
    const { worker, reports } = setup();
    worker.apply({
      full: true,
      tasks: [task('m', { spec: { image: 'missing' } as Task['spec'] })],
      removedTaskIds: [],
    });
    await settle();
    expect(reports.at(-1)?.status).toMatchObject({ state: TaskState.TASK_STATE_REJECTED, error: 'no such image' });
    await worker.stop();
  });

  it('stops a task told to stop, and one no longer assigned', async () => {
    const { executor, worker, states } = setup();
    worker.apply({ full: true, tasks: [task('a'), task('b')], removedTaskIds: [] });
    await settle();
    worker.apply({
      full: false,
      tasks: [task('a', { desiredState: TaskState.TASK_STATE_SHUTDOWN })],
      removedTaskIds: [],
    });
    worker.apply({
      full: true,
      tasks: [task('a', { desiredState: TaskState.TASK_STATE_SHUTDOWN })],
      removedTaskIds: [],
    });
    await settle();
    expect(executor.shutdowns.sort()).toEqual(['a', 'b']);
    expect(states('a').at(-1)).toBe(TaskState.TASK_STATE_SHUTDOWN);
    await worker.stop();
  });

  it('keeps reports while disconnected and says every state again on a new session', async () => {
    const { worker, reports, states, setConnected } = setup();
    setConnected(false);
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [] });
    await settle();
    expect(reports).toEqual([]);
    setConnected(true);
    await settle();
    expect(states('a')).toEqual([TaskState.TASK_STATE_RUNNING]);
    // A new session's full set (the manager still thinks it assigned): the state is reported again.
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [] });
    await settle();
    expect(states('a')).toEqual([TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_RUNNING]);
    await worker.stop();
  });

  it('reports as failed a task the managers think runs here but this node does not know', async () => {
    const { worker, reports } = setup();
    worker.apply({
      full: true,
      tasks: [task('ghost', { status: { state: TaskState.TASK_STATE_RUNNING } as Task['status'] })],
      removedTaskIds: [],
    });
    await settle();
    expect(reports).toMatchObject([
      { taskId: 'ghost', status: { state: TaskState.TASK_STATE_FAILED, error: 'task lost' } },
    ]);
    await worker.stop();
  });

  it('a self-fence stops every task', async () => {
    const { executor, worker } = setup();
    worker.apply({ full: true, tasks: [task('a'), task('b')], removedTaskIds: [] });
    await settle();
    worker.fence();
    await settle();
    expect(executor.shutdowns.sort()).toEqual(['a', 'b']);
    await worker.stop();
  });
});
