// 1,000 hollow nodes hold sessions with a manager process at 1 s heartbeats for 30 s; then 20,000 tasks are
// assigned to them and each node reports its tasks running. Prints one JSON line of figures last.
// Run: npm run bench -- dispatcher
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Service, Task, TaskState } from '@flotilla/api';
import { connectEtcd, Informer, Store, type Write } from '@flotilla/store';
import { HollowNodes, ManagedProcess, startEtcd, tempDir } from '@flotilla/testing';

const NODES = 1_000;
const STEADY_S = 30;
const TASKS = 20_000;

const root = path.resolve(import.meta.dirname, '..');
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const etcd = await startEtcd();
const dirs = [tempDir('bench-manager'), tempDir('bench-cli')];
const client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 30_000 });
let output = '';
const manager = spawn(
  path.join(root, 'node_modules', '.bin', 'flotilla'),
  ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string, LOG_LEVEL: 'warn' },
  },
);
manager.stderr?.on('data', (d: Buffer) => {
  output += d.toString();
});

/** CPU seconds (user + system) the manager has used so far, and its resident memory in MB. */
function usage(): { cpuS: number; rssMb: number } {
  const stat = readFileSync(`/proc/${manager.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / ticks;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${manager.pid}/status`, 'utf8'))?.[1];
  return { cpuS, rssMb: Number(rss) / 1024 };
}

let hollow: HollowNodes | undefined;
try {
  const deadline = Date.now() + 30_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(output)) {
    if (Date.now() > deadline || manager.exitCode !== null) throw new Error(`the manager did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  const worker = execFileSync(path.join(root, 'node_modules', '.bin', 'flotilla'), ['join-token', 'worker', '-q'], {
    env: { ...process.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string },
    encoding: 'utf8',
  }).trim();
  hollow = await HollowNodes.start({ manager: address, token: worker, count: NODES, joinConcurrency: 32 });
  while (hollow.connected() < NODES) await new Promise((r) => setTimeout(r, 200));

  // Steady state: heartbeats only.
  let peakRss = 0;
  const before = usage();
  const started = performance.now();
  while (performance.now() - started < STEADY_S * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    peakRss = Math.max(peakRss, usage().rssMb);
  }
  const after = usage();
  const steadyRss = peakRss;
  // The manager's own view of its heap, from its /metrics, to tell heap from buffers in the resident size.
  const httpAddress = /health and metrics on http:\/\/([\d.]+:\d+)\//.exec(output)?.[1];
  const metricsText = httpAddress ? await (await fetch(`http://${httpAddress}/metrics`)).text() : '';
  const heapUsedMb = Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(metricsText)?.[1] ?? Number.NaN) / 2 ** 20;
  const steadyCpuPct = ((after.cpuS - before.cpuS) / ((performance.now() - started) / 1000)) * 100;

  // Burst: 20 tasks per node, then every node reports its tasks running.
  const store = new Store(client);
  const informer = new Informer(store, 'tasks');
  await informer.start();
  let running = 0;
  const allRunning = new Promise<void>((resolve) => {
    informer.subscribe((set) => {
      for (const c of set.changes)
        if (
          c.type === 'put' &&
          c.value.status?.state === TaskState.TASK_STATE_RUNNING &&
          c.previous?.status?.state !== TaskState.TASK_STATE_RUNNING
        )
          running++;
      if (running >= TASKS) resolve();
    });
  });
  // The tasks belong to 200 services of 100 replicas, so the orchestrator finds every slot filled and leaves
  // them alone: only the dispatcher's path is measured. Each service is written in one transaction with its
  // tasks (101 writes, under etcd's 128): written apart, the orchestrator would see services without their tasks
  // and create 20,000 tasks of its own (measured: 19,746 extra pending tasks, and the peak that came with them).
  const REPLICAS = 100;
  const SERVICES = TASKS / REPLICAS;
  const serviceWrites = (s: number): Write[] => {
    const id = `svc-${s}`;
    const service: Write = {
      op: 'create',
      kind: 'services',
      id,
      value: Service.fromPartial({
        id,
        specVersion: 1n,
        spec: { annotations: { name: `bench_svc${s}` }, replicas: BigInt(REPLICAS), container: { image: 'app' } },
      }),
    };
    const tasks = Array.from({ length: REPLICAS }, (_, r): Write => {
      const i = s * REPLICAS + r;
      return {
        op: 'create',
        kind: 'tasks',
        id: `t${i}`,
        value: Task.fromPartial({
          id: `t${i}`,
          serviceId: id,
          slot: BigInt(r + 1),
          nodeId: hollow?.nodes[i % NODES]?.credentials.nodeId ?? '',
          desiredState: TaskState.TASK_STATE_RUNNING,
          status: { state: TaskState.TASK_STATE_ASSIGNED },
          specVersion: 1n,
          spec: { image: 'registry.example.com/app:1.0' },
        }),
      };
    });
    return [service, ...tasks];
  };
  const perService = Array.from({ length: SERVICES }, (_, s) => serviceWrites(s));
  const burstCpuBefore = usage();
  const burstStart = performance.now();
  // Diagnostics (stderr): the resident size sampled every 100 ms through the burst, not only at its end.
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, usage().rssMb);
  }, 100);
  // Sixteen transactions in flight, as one batch of 20,000 writes would have.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let s = next++; s < SERVICES; s = next++) await store.batch(perService[s] as Write[]);
    }),
  );
  const assignedAt = performance.now();
  await Promise.race([
    allRunning,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`only ${running} of ${TASKS} tasks reported running`)), 120_000),
    ),
  ]);
  const doneAt = performance.now();
  const burstCpuPct = ((usage().cpuS - burstCpuBefore.cpuS) / ((doneAt - burstStart) / 1000)) * 100;
  peakRss = Math.max(peakRss, usage().rssMb);
  clearInterval(sampler);
  const byState = new Map<string, number>();
  for (const { id, value } of informer.list()) {
    const key = `${/^t\d+$/.test(id) ? 'bench' : 'other'}:${TaskState[value.status?.state ?? 0]}`;
    byState.set(key, (byState.get(key) ?? 0) + 1);
  }
  console.error(JSON.stringify({ sampled_peak_rss_mb: Math.round(sampledPeak), tasks: Object.fromEntries(byState) }));
  await informer.stop();

  console.log(
    JSON.stringify({
      bench: 'dispatcher',
      nodes: NODES,
      manager_cpu_pct: Math.round(steadyCpuPct * 10) / 10,
      manager_rss_mb: Math.round(peakRss),
      steady_rss_mb: Math.round(steadyRss),
      steady_heap_used_mb: Math.round(heapUsedMb),
      status_updates_per_s: Math.round(TASKS / ((doneAt - assignedAt) / 1000)),
      burst_cpu_pct: Math.round(burstCpuPct * 10) / 10,
      burst_s: Math.round((doneAt - burstStart) / 100) / 10,
      steady_s: STEADY_S,
      tasks: TASKS,
    }),
  );
} finally {
  hollow?.stop();
  if (manager.exitCode === null) manager.kill('SIGKILL');
  client.close();
  await etcd.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
}
