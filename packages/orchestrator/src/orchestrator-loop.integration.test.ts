import { Service, Task, TaskState } from '@flotilla/api';
import { connectEtcd, Informer, Store, type Write } from '@flotilla/store';
import { startEtcd, type TestServer } from '@flotilla/test-servers';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Orchestrator } from './orchestrator-loop.js';

// A real etcd. The tasks watch is made to run late on purpose (what a busy etcd or manager does now and then):
// its responses are held, then let through, so the race is there on every run instead of once in a while.
let etcd: TestServer;
let client: Etcd3;
let store: Store;

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  store = new Store(client);
});

afterAll(async () => {
  client?.close();
  await etcd?.destroy();
});

function holdWatch(informer: Informer<'tasks'>): { release(): void } {
  const target = informer as unknown as { apply(res: unknown): void };
  const apply = target.apply.bind(informer);
  const held: unknown[] = [];
  let holding = true;
  target.apply = (res) => (holding ? held.push(res) : apply(res));
  return {
    release() {
      holding = false;
      for (const res of held.splice(0)) apply(res);
    },
  };
}

function serviceWrite(id: string, replicas: number): Write {
  return {
    op: 'create',
    kind: 'services',
    id,
    value: Service.fromPartial({
      id,
      specVersion: 1n,
      spec: { annotations: { name: id }, replicas: BigInt(replicas), container: { image: 'app' } },
    }),
  };
}

function taskWrite(serviceId: string, slot: number): Write {
  const id = `${serviceId}-own-${slot}`;
  return {
    op: 'create',
    kind: 'tasks',
    id,
    value: Task.fromPartial({
      id,
      serviceId,
      slot: BigInt(slot),
      desiredState: TaskState.TASK_STATE_RUNNING,
      status: { state: TaskState.TASK_STATE_PENDING },
      specVersion: 1n,
      spec: { image: 'app' },
    }),
  };
}

async function tasksOf(serviceId: string): Promise<Task[]> {
  return (await store.list('tasks')).items.map((t) => t.value).filter((t) => t.serviceId === serviceId);
}

/** An orchestrator on its own task informer, whose watch is held back from the start, for the length of `test`. */
async function withHeldTaskWatch(test: (hold: { release(): void }, orchestrator: Orchestrator) => Promise<void>) {
  const tasks = new Informer(store, 'tasks');
  const orchestrator = new Orchestrator(store, { informers: { tasks } });
  await orchestrator.start();
  await tasks.start();
  const hold = holdWatch(tasks);
  try {
    await test(hold, orchestrator);
  } finally {
    hold.release();
    await orchestrator.stop();
    await tasks.stop();
  }
}

describe('a reconcile round and the revision of what it reads', () => {
  it('does not act on a service before it sees the tasks written with it in one transaction', async () => {
    await withHeldTaskWatch(async (hold, orchestrator) => {
      await store.batch([serviceWrite('svc-a', 3), ...[1, 2, 3].map((slot) => taskWrite('svc-a', slot))]);
      // Well past the debounce cap: the services watch has delivered, the tasks watch has not.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await tasksOf('svc-a')).map((t) => t.id).sort()).toEqual(['svc-a-own-1', 'svc-a-own-2', 'svc-a-own-3']);
      hold.release();
      await new Promise((r) => setTimeout(r, 1_500));
      await orchestrator.settled();
      expect(await tasksOf('svc-a')).toHaveLength(3);
    });
  });

  it('does not wait for tasks when the transaction wrote none: a new service gets its tasks at once', async () => {
    await withHeldTaskWatch(async () => {
      const started = Date.now();
      await store.batch([serviceWrite('svc-b', 2)]);
      await expect.poll(async () => (await tasksOf('svc-b')).length, { timeout: 3_000, interval: 50 }).toBe(2);
      // Created within a debounce cap or two, not after the 5 s a wait for the held watch would take.
      expect(Date.now() - started).toBeLessThan(2_500);
    });
  });
});

describe("a new leader's orchestrator and the caches it shares", () => {
  it('decides nothing while the tasks cache is listed and the services cache is not: no task is taken for an orphan', async () => {
    // A service with its tasks running, as a restarted leader finds them.
    await store.batch([serviceWrite('svc-c', 2), ...[1, 2].map((slot) => taskWrite('svc-c', slot))]);
    const before = (await tasksOf('svc-c')).map((t) => `${t.id}:${t.desiredState}`).sort();
    const tasks = new Informer(store, 'tasks');
    const services = new Informer(store, 'services');
    const orchestrator = new Orchestrator(store, { informers: { tasks, services } });
    try {
      // The leader's dispatcher lists the tasks first; the list reaches the orchestrator's subscription.
      await tasks.start();
      // Well past the debounce's cap, with the services not listed yet.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await tasksOf('svc-c')).map((t) => `${t.id}:${t.desiredState}`).sort()).toEqual(before);
      await services.start();
      await orchestrator.start();
      await new Promise((r) => setTimeout(r, 300));
      await orchestrator.settled();
      // Once it has every cache, the service is seen with its two tasks: nothing to change.
      expect((await tasksOf('svc-c')).map((t) => `${t.id}:${t.desiredState}`).sort()).toEqual(before);
    } finally {
      await orchestrator.stop();
      await Promise.all([tasks.stop(), services.stop()]);
    }
  });
});
