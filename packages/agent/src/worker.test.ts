import { HealthCheck, Task, TaskHealth, TaskState, type TaskStatus } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { type ExecResult, type Executor, type Exit, type Progress, RejectedError } from './executor/executor.js';
import { FENCE_GRACE_MS, Worker } from './worker.js';

/** An executor whose processes end when the test says so. */
class FakeExecutor implements Executor {
  readonly name = 'fake';
  readonly exits = new Map<string, (exit: Exit) => void>();
  readonly waits = new Map<string, Promise<Exit>>();
  readonly shutdowns: string[] = [];
  readonly removed: string[] = [];
  readonly adoptions: string[] = [];
  /** What health-check commands answer. */
  execResult: ExecResult = { exitCode: 0, output: 'ok' };
  /** Whether adopt() finds a task still running, and when it answers. */
  adoptable = false;
  adoptAnswer: Promise<void> = Promise.resolve();
  /** Progress messages prepare() reports, each after a pause (ms). */
  pull: [number, string][] = [];
  async prepare(task: Task, progress?: Progress): Promise<void> {
    if (task.spec?.image === 'missing') throw new RejectedError('no such image');
    for (const [pause, message] of this.pull) {
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      progress?.(message);
    }
  }
  async start(task: Task): Promise<void> {
    this.track(task.id);
  }
  wait(taskId: string): Promise<Exit> {
    return this.waits.get(taskId) ?? Promise.resolve({ exitCode: 0 });
  }
  /** The grace each shutdown was given (ms), by task. */
  readonly graces = new Map<string, number>();
  /** Whether each shutdown drained first (the executor's default) or not (a fence). */
  readonly drains = new Map<string, boolean>();
  async shutdown(taskId: string, _signal: string, graceMs: number, options?: { drain?: boolean }): Promise<void> {
    this.shutdowns.push(taskId);
    this.graces.set(taskId, graceMs);
    this.drains.set(taskId, options?.drain ?? true);
    this.exits.get(taskId)?.({ exitCode: 143, signal: 'SIGTERM' });
  }
  async remove(taskId: string): Promise<void> {
    this.removed.push(taskId);
  }
  async exec(): Promise<ExecResult> {
    return this.execResult;
  }
  async adopt(task: Task): Promise<boolean> {
    this.adoptions.push(task.id);
    await this.adoptAnswer;
    if (this.adoptable) this.track(task.id);
    return this.adoptable;
  }
  private track(id: string): void {
    this.waits.set(id, new Promise((resolve) => this.exits.set(id, resolve)));
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
    progressIntervalMs: 100,
  });
  const states = (id: string) => reports.filter((r) => r.taskId === id).map((r) => r.status.state);
  const of = (id: string) => reports.filter((r) => r.taskId === id).map((r) => r.status);
  return { executor, worker, reports, states, of, setConnected: (c: boolean) => (connected = c) };
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
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [], files: [] });
    await settle();
    expect(states('a').at(-1)).toBe(TaskState.TASK_STATE_RUNNING);
    executor.exits.get('a')?.({ exitCode: 2 });
    await settle();
    const last = reports.filter((r) => r.taskId === 'a').at(-1)?.status;
    expect(last).toMatchObject({ state: TaskState.TASK_STATE_FAILED, exitCode: 2, error: 'exited with code 2' });
    await worker.stop();
  });

  it("tells the node's task logs of each task before it is prepared and after it is removed, not while detached", async () => {
    const executor = new FakeExecutor();
    const events: string[] = [];
    const prepare = executor.prepare.bind(executor);
    executor.prepare = async (t, progress) => {
      events.push(`prepare ${t.id}`);
      await prepare(t, progress);
    };
    const remove = executor.remove.bind(executor);
    executor.remove = async (id) => {
      events.push(`remove ${id}`);
      await remove(id);
    };
    const logs = {
      bind: (t: Task) => events.push(`bind ${t.id}`),
      unbind: (id: string) => events.push(`unbind ${id}`),
    };
    const worker = new Worker({ executor, report: () => true, flushMs: 5, logs });
    worker.apply({ full: true, tasks: [task('a'), task('b')], removedTaskIds: [], files: [] });
    await settle();
    executor.exits.get('a')?.({ exitCode: 0 });
    await settle();
    expect(events.filter((e) => e.endsWith(' a'))).toEqual(['bind a', 'prepare a', 'remove a', 'unbind a']);
    worker.detach();
    await settle();
    // Detached (live restore): b runs on, and its logging stays as it was until the agent is gone.
    expect(events.filter((e) => e.endsWith(' b'))).toEqual(['bind b', 'prepare b']);
  });

  it('lets go of its tasks without stopping them when detached (agent restart with live restore)', async () => {
    const { executor, worker, states } = setup();
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [], files: [] });
    await settle();
    expect(states('a').at(-1)).toBe(TaskState.TASK_STATE_RUNNING);
    worker.detach();
    expect(worker.states().size).toBe(0);
    await settle();
    expect(executor.shutdowns).toEqual([]);
  });

  it('rejects what the runtime cannot run, with the reason', async () => {
    const { worker, reports } = setup();
    worker.apply({
      full: true,
      tasks: [task('m', { spec: { image: 'missing' } as Task['spec'] })],
      removedTaskIds: [],
      files: [],
    });
    await settle();
    expect(reports.at(-1)?.status).toMatchObject({ state: TaskState.TASK_STATE_REJECTED, error: 'no such image' });
    await worker.stop();
  });

  it('stops a task told to stop, and one no longer assigned', async () => {
    const { executor, worker, states } = setup();
    worker.apply({ full: true, tasks: [task('a'), task('b')], removedTaskIds: [], files: [] });
    await settle();
    worker.apply({
      full: false,
      tasks: [task('a', { desiredState: TaskState.TASK_STATE_SHUTDOWN })],
      removedTaskIds: [],
      files: [],
    });
    worker.apply({
      full: true,
      tasks: [task('a', { desiredState: TaskState.TASK_STATE_SHUTDOWN })],
      removedTaskIds: [],
      files: [],
    });
    await settle();
    expect(executor.shutdowns.sort()).toEqual(['a', 'b']);
    expect(states('a').at(-1)).toBe(TaskState.TASK_STATE_SHUTDOWN);
    await worker.stop();
  });

  it('keeps reports while disconnected and says every state again on a new session', async () => {
    const { worker, reports, states, setConnected } = setup();
    setConnected(false);
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [], files: [] });
    await settle();
    expect(reports).toEqual([]);
    setConnected(true);
    await settle();
    expect(states('a')).toEqual([TaskState.TASK_STATE_RUNNING]);
    // A new session's full set (the manager still thinks it assigned): the state is reported again.
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [], files: [] });
    await settle();
    expect(states('a')).toEqual([TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_RUNNING]);
    await worker.stop();
  });

  it('reports as lost a task the managers think runs here, that the runtime could not take back', async () => {
    const { executor, worker, reports } = setup();
    worker.apply({
      full: true,
      tasks: [task('ghost', { status: { state: TaskState.TASK_STATE_RUNNING } as Task['status'] })],
      removedTaskIds: [],
      files: [],
    });
    await settle();
    expect(executor.adoptions).toEqual(['ghost']);
    expect(reports).toMatchObject([
      { taskId: 'ghost', status: { state: TaskState.TASK_STATE_FAILED, error: 'task lost' } },
    ]);
    // What it left behind is freed.
    expect(executor.removed).toEqual(['ghost']);
    await worker.stop();
  });

  it('adopts a task that outlived an agent restart, once, and runs it on from there', async () => {
    const { executor, worker, of } = setup();
    executor.adoptable = true;
    let answer: () => void = () => undefined;
    executor.adoptAnswer = new Promise<void>((r) => {
      answer = r;
    });
    const ghost = task('ghost', { status: { state: TaskState.TASK_STATE_RUNNING } as Task['status'] });
    // A full set and a change arrive while the runtime is still looking for it.
    worker.apply({ full: true, tasks: [ghost], removedTaskIds: [], files: [] });
    worker.apply({ full: false, tasks: [ghost], removedTaskIds: [], files: [] });
    worker.apply({ full: true, tasks: [ghost], removedTaskIds: [], files: [] });
    await settle();
    expect(of('ghost')).toEqual([]);
    answer();
    await settle();
    expect(executor.adoptions).toEqual(['ghost']);
    expect(of('ghost')).toMatchObject([
      { state: TaskState.TASK_STATE_RUNNING, message: 'adopted after agent restart' },
    ]);
    // It is watched like any running task: stopping it works, and its end is reported.
    worker.apply({
      full: false,
      tasks: [task('ghost', { desiredState: TaskState.TASK_STATE_SHUTDOWN })],
      removedTaskIds: [],
      files: [],
    });
    await settle();
    expect(executor.shutdowns).toEqual(['ghost']);
    expect(of('ghost').at(-1)).toMatchObject({ state: TaskState.TASK_STATE_SHUTDOWN, message: 'stopped as asked' });
    await worker.stop();
  });

  it('a task told to stop while being adopted is stopped once adopted', async () => {
    const { executor, worker, of } = setup();
    executor.adoptable = true;
    let answer: () => void = () => undefined;
    executor.adoptAnswer = new Promise<void>((r) => {
      answer = r;
    });
    worker.apply({
      full: true,
      tasks: [task('ghost', { status: { state: TaskState.TASK_STATE_STARTING } as Task['status'] })],
      removedTaskIds: [],
      files: [],
    });
    worker.apply({ full: true, tasks: [], removedTaskIds: [], files: [] });
    answer();
    await settle();
    expect(executor.shutdowns).toEqual(['ghost']);
    expect(of('ghost').at(-1)).toMatchObject({ state: TaskState.TASK_STATE_SHUTDOWN });
    await worker.stop();
  });

  it('reports health within the running state, and fails an unhealthy task with the reason', async () => {
    const { executor, worker, of } = setup();
    const checked = task('h', {
      spec: {
        image: 'app',
        stopGracePeriodNs: 1_000_000_000n,
        healthcheck: { test: ['CMD-SHELL', 'check'], intervalNs: 10_000_000n, retries: 2 },
      } as Task['spec'],
    });
    worker.apply({ full: true, tasks: [checked], removedTaskIds: [], files: [] });
    await settle();
    await settle();
    expect(of('h').at(-1)).toMatchObject({
      state: TaskState.TASK_STATE_RUNNING,
      health: TaskHealth.TASK_HEALTH_HEALTHY,
      healthOutput: 'ok',
    });
    expect(executor.shutdowns).toEqual([]);
    executor.execResult = { exitCode: 1, output: 'database unreachable\n' };
    await settle();
    await settle();
    expect(executor.shutdowns).toEqual(['h']);
    expect(of('h').at(-1)).toMatchObject({
      state: TaskState.TASK_STATE_FAILED,
      error: 'unhealthy: database unreachable',
      exitCode: 143,
    });
    // Health reports never moved the state: every report after running is running or the end.
    const states = of('h').map((st) => st.state);
    expect(states.slice(states.indexOf(TaskState.TASK_STATE_RUNNING))).not.toContain(TaskState.TASK_STATE_STARTING);
    await worker.stop();
  });

  it("uses the image's healthcheck when the service sets none, and not when it sets NONE", async () => {
    const { executor, worker, of } = setup();
    const fromImage = HealthCheck.fromPartial({ test: ['CMD', 'check'], intervalNs: 10_000_000n, retries: 1 });
    const withImageCheck = Object.assign(executor, { imageHealthcheck: () => fromImage });
    expect(withImageCheck.imageHealthcheck()).toBe(fromImage);
    const disabled = task('n', { spec: { image: 'app', healthcheck: { test: ['NONE'] } } as Task['spec'] });
    worker.apply({ full: true, tasks: [task('i'), disabled], removedTaskIds: [], files: [] });
    await settle();
    await settle();
    expect(of('i').at(-1)).toMatchObject({
      state: TaskState.TASK_STATE_RUNNING,
      health: TaskHealth.TASK_HEALTH_HEALTHY,
    });
    expect(of('n').at(-1)?.health).toBeUndefined();
    await worker.stop();
  });

  it('lets the runtime clear leftovers only after a full assignment set, once adoptions are decided', async () => {
    const { executor, worker } = setup();
    const reconciled: string[][] = [];
    let answer: () => void = () => undefined;
    executor.adoptable = true;
    executor.adoptAnswer = new Promise((resolve) => {
      answer = resolve;
    });
    Object.assign(executor, {
      reconcile: async (known: ReadonlySet<string>) => void reconciled.push([...known].sort()),
    });
    const running = task('r', { status: { state: TaskState.TASK_STATE_RUNNING } as Task['status'] });
    worker.apply({ full: true, tasks: [running, task('new')], removedTaskIds: [], files: [] });
    await settle();
    expect(reconciled).toEqual([]);
    answer();
    await settle();
    expect(reconciled).toEqual([['new', 'r']]);
    worker.apply({ full: false, tasks: [task('more')], removedTaskIds: [], files: [] });
    await settle();
    expect(reconciled).toHaveLength(1);
    await worker.stop();
  });

  it('a task without a healthcheck reports no health', async () => {
    const { worker, of } = setup();
    worker.apply({ full: true, tasks: [task('a')], removedTaskIds: [], files: [] });
    await settle();
    expect(of('a').at(-1)).toMatchObject({ state: TaskState.TASK_STATE_RUNNING });
    expect(of('a').at(-1)?.health).toBeUndefined();
    await worker.stop();
  });

  it('shows pull progress in the preparing message, at most every interval', async () => {
    const { executor, worker, of } = setup();
    executor.pull = [
      [0, 'pulling app: 10%'],
      [0, 'pulling app: 20%'],
      [0, 'pulling app: 30%'],
      [250, 'pulling app: done'],
      [250, 'pulling app: unpacking'],
    ];
    worker.apply({ full: true, tasks: [task('p')], removedTaskIds: [], files: [] });
    await new Promise((r) => setTimeout(r, 700));
    const messages = of('p')
      .filter((st) => st.state === TaskState.TASK_STATE_PREPARING)
      .map((st) => st.message);
    expect(messages).toContain('pulling app: 30%');
    expect(messages).toContain('pulling app: done');
    expect(messages).not.toContain('pulling app: 20%');
    expect(of('p').at(-1)?.state).toBe(TaskState.TASK_STATE_RUNNING);
    await worker.stop();
  });

  it('a self-fence stops every task', async () => {
    const { executor, worker } = setup();
    worker.apply({ full: true, tasks: [task('a'), task('b')], removedTaskIds: [], files: [] });
    await settle();
    worker.fence();
    await settle();
    expect(executor.shutdowns.sort()).toEqual(['a', 'b']);
    await worker.stop();
  });

  it('a fenced task is signalled at once and gets at most FENCE_GRACE_MS before SIGKILL; a plain stop drains and gets its own', async () => {
    const { executor, worker } = setup();
    const slow = (id: string) =>
      Task.fromPartial({ ...task(id), spec: { image: 'app', stopGracePeriodNs: 30_000_000_000n } });
    worker.apply({ full: true, tasks: [slow('fenced'), slow('asked')], removedTaskIds: [], files: [] });
    await settle();
    worker.fence(['fenced']);
    worker.apply({
      full: false,
      tasks: [{ ...slow('asked'), desiredState: TaskState.TASK_STATE_SHUTDOWN }],
      removedTaskIds: [],
      files: [],
    });
    await settle();
    expect(Object.fromEntries(executor.graces)).toEqual({ fenced: FENCE_GRACE_MS, asked: 30_000 });
    // And no drain before the signal for the fenced one: its replacement may start a second later.
    expect(Object.fromEntries(executor.drains)).toEqual({ fenced: false, asked: true });
    await worker.stop();
  });

  it('a fence by the quorum rule stops only the tasks named, and tells each task’s disconnect policy', async () => {
    const { executor, worker } = setup();
    const patient = task('b', { disconnect: { stopAfterMs: 60_000n, neverStop: false } });
    worker.apply({ full: true, tasks: [task('a'), patient], removedTaskIds: [], files: [] });
    await settle();
    expect(worker.disconnectPolicies()).toEqual([
      { id: 'a', disconnect: undefined },
      { id: 'b', disconnect: { stopAfterMs: 60_000n, neverStop: false } },
    ]);
    worker.fence(['a', 'gone']);
    await settle();
    expect(executor.shutdowns).toEqual(['a']);
    await worker.stop();
  });
});

describe('worker: sidecars', () => {
  const sidecar = (id: string, main: string) =>
    task(id, { mainTaskId: main, sidecar: { service: 'st_web', shareNetwork: true, volumesFrom: [] } });

  it('starts a sidecar only once its main task runs, and stops it when the main task ends', async () => {
    const { executor, worker, states, of } = setup();
    // The main task's image takes a while: the sidecar, assigned with it, must wait.
    executor.pull = [[80, 'pulling']];
    worker.apply({ full: true, tasks: [sidecar('side', 'main'), task('main')], removedTaskIds: [], files: [] });
    await settle();
    expect(states('main')).not.toContain(TaskState.TASK_STATE_RUNNING);
    expect(states('side')).not.toContain(TaskState.TASK_STATE_STARTING);
    expect(of('side').at(-1)?.message).toBe('waiting for its main task main to run');
    await new Promise((r) => setTimeout(r, 250));
    expect(states('main').at(-1)).toBe(TaskState.TASK_STATE_RUNNING);
    expect(states('side').at(-1)).toBe(TaskState.TASK_STATE_RUNNING);
    executor.exits.get('main')?.({ exitCode: 137, signal: 'SIGKILL' });
    await settle();
    expect(executor.shutdowns).toEqual(['side']);
    expect(of('side').at(-1)).toMatchObject({ state: TaskState.TASK_STATE_SHUTDOWN, message: 'its main task ended' });
    await worker.stop();
  });

  it('fails a sidecar whose main task ended before it could start, and never starts it', async () => {
    const { executor, worker, states, of } = setup();
    worker.apply({ full: true, tasks: [task('main')], removedTaskIds: [], files: [] });
    await settle();
    executor.exits.get('main')?.({ exitCode: 1 });
    await settle();
    worker.apply({ full: false, tasks: [sidecar('side', 'main')], removedTaskIds: [], files: [] });
    await settle();
    expect(states('side')).not.toContain(TaskState.TASK_STATE_STARTING);
    expect(of('side').at(-1)).toMatchObject({
      state: TaskState.TASK_STATE_FAILED,
      error: expect.stringMatching(/its main task main is not running on this node/),
    });
    await worker.stop();
  });
});
