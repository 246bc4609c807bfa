// Create 10,000 task objects through Store.batch() (16 transactions in flight) against a real etcd, while an
// informer consumes them through its watch. Prints one JSON line of figures last.
// Run: npm run bench -- store
import { Task, TaskState } from '@flotilla/api';
import { connectEtcd, Informer, Store, type Write } from '@flotilla/store';
import { ManagedProcess, startEtcd } from '@flotilla/testing';

const TASKS = 10_000;
const IN_FLIGHT = 16;

const etcd = await startEtcd();
const client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 30_000 });
try {
  const store = new Store(client);
  const informer = new Informer(store, 'tasks');
  await informer.start();

  // Watch lag: from the moment a transaction's commit is acknowledged to the moment its changes reach the
  // informer's subscribers (0 when the watch delivers first).
  const committedAt = new Map<bigint, number>();
  const deliveredAt = new Map<bigint, number>();
  let seen = 0;
  const allSeen = new Promise<void>((resolve) => {
    informer.subscribe((set) => {
      deliveredAt.set(set.revision, performance.now());
      seen += set.changes.length;
      if (seen >= TASKS) resolve();
    });
  });

  const writes: Write[] = Array.from({ length: TASKS }, (_, i) => ({
    op: 'create',
    kind: 'tasks',
    id: `task-${i}`,
    value: Task.fromPartial({
      id: `task-${i}`,
      serviceId: `svc-${i % 50}`,
      slot: BigInt((i % 20) + 1),
      desiredState: TaskState.TASK_STATE_RUNNING,
      status: { state: TaskState.TASK_STATE_PENDING, timestampMs: BigInt(Date.now()), message: 'pending' },
      specVersion: 1n,
      spec: { image: 'registry.example.com/app:1.0', env: ['A=1', 'B=2'] },
    }),
  }));

  const started = performance.now();
  const result = await store.batch(writes, {
    inFlight: IN_FLIGHT,
    onCommit: (revision) => committedAt.set(revision, performance.now()),
  });
  const writeSeconds = (performance.now() - started) / 1000;
  await Promise.race([
    allSeen,
    new Promise((_, reject) => setTimeout(() => reject(new Error('watch timeout')), 60_000)),
  ]);

  const lags = [...committedAt].map(([revision, at]) => Math.max(0, (deliveredAt.get(revision) ?? Number.NaN) - at));
  lags.sort((a, b) => a - b);
  const p99 = lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.99) - 1)] as number;
  await informer.stop();
  console.log(
    JSON.stringify({
      bench: 'store',
      tasks: TASKS,
      keys_per_s: Math.round(TASKS / writeSeconds),
      watch_lag_p99_ms: Math.round(p99 * 10) / 10,
      transactions: result.transactions,
      in_flight: IN_FLIGHT,
      seen_by_watch: seen,
    }),
  );
} finally {
  client.close();
  await etcd.destroy();
  await ManagedProcess.stopAll();
}
