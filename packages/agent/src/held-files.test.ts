import { type Assignments, Task, TaskState, type TaskStatus } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import type { ExecResult, Executor, Exit, TaskFileContent } from './executor/executor.js';
import { HeldFiles } from './held-files.js';
import { Worker } from './worker.js';

function task(id: string, secrets: string[], configs: string[] = []): Task {
  return Task.fromPartial({
    id,
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state: TaskState.TASK_STATE_ASSIGNED },
    spec: {
      image: 'app',
      secrets: secrets.map((objectId) => ({ source: `app_${objectId}`, objectId })),
      configs: configs.map((objectId) => ({ source: `app_${objectId}`, target: '/etc/app.conf', objectId })),
    },
  });
}

function message(m: Partial<Omit<Assignments, 'files'>> & { files?: Record<string, string> }): Assignments {
  return {
    full: m.full ?? false,
    tasks: m.tasks ?? [],
    removedTaskIds: m.removedTaskIds ?? [],
    files: Object.entries(m.files ?? {}).map(([objectId, data]) => ({ objectId, data: Buffer.from(data) })),
  };
}

describe('the contents an agent holds', () => {
  it('keeps what its tasks use and drops each once no task assigned here uses it', () => {
    const held = new HeldFiles();
    held.apply(
      message({ full: true, tasks: [task('a', ['o1']), task('b', ['o1'], ['o2'])], files: { o1: 'x', o2: 'y' } }),
    );
    expect(held.holding()).toEqual(['o1', 'o2']);
    held.apply(message({ removedTaskIds: ['b'] }));
    expect(held.holding()).toEqual(['o1']);
    held.apply(message({ removedTaskIds: ['a'] }));
    expect(held.holding()).toEqual([]);
  });

  it('keeps files sent ahead of their tasks until the message with the tasks, and a full set replaces what tasks use', () => {
    const held = new HeldFiles();
    held.apply(message({ full: true, tasks: [task('a', ['o1'])], files: { o1: 'x' } }));
    held.apply(message({ files: { o2: 'y', o3: 'z' } }));
    expect(held.holding()).toEqual(['o1', 'o2', 'o3']);
    // The tasks come: o2 and o3 are used, a no longer is (a full set says everything the node has).
    held.apply(message({ full: true, tasks: [task('b', ['o2', 'o3'])] }));
    expect(held.holding()).toEqual(['o2', 'o3']);
  });

  it('zeroes a content it drops', () => {
    const held = new HeldFiles();
    held.apply(message({ full: true, tasks: [task('a', ['o1'])], files: { o1: 'secret!' } }));
    const [file] = held.forTask(task('a', ['o1']), { name: 'containerd', deliversFiles: true });
    expect(file?.data.toString()).toBe('secret!');
    held.apply(message({ removedTaskIds: ['a'] }));
    expect([...(file?.data ?? [])].every((b) => b === 0)).toBe(true);
  });
});

/** An executor that records the files each task was prepared with. */
class FilesExecutor implements Executor {
  readonly prepared = new Map<string, TaskFileContent[]>();
  constructor(
    readonly name: string,
    readonly deliversFiles: boolean,
  ) {}
  async prepare(task: Task, _progress?: unknown, files: TaskFileContent[] = []): Promise<void> {
    this.prepared.set(
      task.id,
      files.map((f) => ({ ...f, data: Buffer.from(f.data) })),
    );
  }
  async start(): Promise<void> {}
  private readonly ends = new Map<string, () => void>();
  wait(taskId: string): Promise<Exit> {
    return new Promise((resolve) => this.ends.set(taskId, () => resolve({ exitCode: 0 })));
  }
  async shutdown(taskId: string): Promise<void> {
    this.ends.get(taskId)?.();
  }
  async remove(): Promise<void> {}
  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: '' };
  }
  async adopt(): Promise<boolean> {
    return false;
  }
}

function setup(executor: FilesExecutor) {
  const reports: { taskId: string; status: TaskStatus }[] = [];
  const report = (updates: typeof reports) => {
    reports.push(...updates);
    return true;
  };
  const worker = new Worker({ executor, report, flushMs: 5 });
  const last = (id: string) => reports.filter((r) => r.taskId === id).at(-1)?.status;
  return { worker, last };
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe('a worker and the files of its tasks', () => {
  it('gives the executor the contents a task uses, and drops them once the task is no longer assigned', async () => {
    const executor = new FilesExecutor('containerd', true);
    const { worker, last } = setup(executor);
    worker.apply(message({ full: true, tasks: [task('a', ['o1'], ['o2'])], files: { o1: 'pw', o2: 'conf' } }));
    await settle();
    expect(last('a')?.state).toBe(TaskState.TASK_STATE_RUNNING);
    expect(executor.prepared.get('a')?.map((f) => [f.kind, f.ref.source, f.data.toString()])).toEqual([
      ['secret', 'app_o1', 'pw'],
      ['config', 'app_o2', 'conf'],
    ]);
    expect(worker.heldFiles()).toEqual(['o1', 'o2']);
    worker.apply(message({ removedTaskIds: ['a'] }));
    expect(worker.heldFiles()).toEqual([]);
    await worker.stop();
  });

  it('rejects a task whose version was not delivered, saying which, and prepares nothing for it', async () => {
    const executor = new FilesExecutor('containerd', true);
    const { worker, last } = setup(executor);
    worker.apply(message({ full: true, tasks: [task('a', ['o1'])] }));
    await settle();
    expect(last('a')).toMatchObject({
      state: TaskState.TASK_STATE_REJECTED,
      error: 'secret app_o1 version o1 was not delivered to this node',
    });
    expect(executor.prepared.has('a')).toBe(false);
    await worker.stop();
  });

  it('rejects a task with secrets or configs on an executor that cannot deliver them, naming the containerd executor', async () => {
    const executor = new FilesExecutor('process', false);
    const { worker, last } = setup(executor);
    worker.apply(message({ full: true, tasks: [task('a', ['o1']), task('plain', [])], files: { o1: 'pw' } }));
    await settle();
    expect(last('a')?.state).toBe(TaskState.TASK_STATE_REJECTED);
    expect(last('a')?.error).toMatch(/process executor cannot deliver: .*containerd executor/);
    // Never the content in what is reported.
    expect(last('a')?.error).not.toContain('pw');
    expect(executor.prepared.has('a')).toBe(false);
    // A task without any runs there as before.
    expect(last('plain')?.state).toBe(TaskState.TASK_STATE_RUNNING);
    await worker.stop();
  });
});
