// The web UI's cost: 1,000 hollow nodes and 10,000 running tasks behind a manager process, `flotilla ui` in front
// of it, the page in Debian's headless chromium. Measures the page's first render (every node column and task
// card on screen) and, at rising rates of task health changes written to etcd, how long after the last write the
// page shows them all. Prints one JSON line of figures last.
// Run: npm run bench -- ui
import { execFileSync, spawn } from 'node:child_process';
import { Service, Task, TaskHealth, TaskState } from '@flotilla/api';
import { connectEtcd, Informer, Store, type Write } from '@flotilla/store';
import { HollowNodes, ManagedProcess, startEtcd, tempDir } from '@flotilla/testing';
import { launchChromium } from '../packages/ui/src/page/test-support/browser.js';
import { bin, log, percentile, sleep } from './lib.js';

/** The little of the DOM the page functions below use (this file is type-checked without the DOM library). */
declare const document: {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

const NODES = 1_000;
const SERVICES = 100;
const REPLICAS = 100;
const TASKS = SERVICES * REPLICAS;
/** Task health changes per second, each held for ROUND_S. */
const RATES = [100, 500, 2_000, 5_000];
const ROUND_S = 5;
/** The page keeps up with a rate when it shows the round's last change within this long. */
const KEPT_UP_MS = 2_000;

const etcd = await startEtcd();
const dirs = [tempDir('bench-ui-manager'), tempDir('bench-ui-cli')];
const cliDir = dirs[1]?.path as string;
const client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 30_000 });
const env = { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: 'warn' };
let output = '';
const manager = spawn(
  bin,
  ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
  { stdio: ['ignore', 'ignore', 'pipe'], env },
);
manager.stderr?.on('data', (d: Buffer) => {
  output += d.toString();
});

let hollow: HollowNodes | undefined;
let ui: ReturnType<typeof spawn> | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
try {
  for (const deadline = Date.now() + 30_000; !/listening on 127\.0\.0\.1:\d+/.test(output); await sleep(100)) {
    if (Date.now() > deadline || manager.exitCode !== null) throw new Error(`the manager did not start:\n${output}`);
  }
  const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  const worker = execFileSync(bin, ['join-token', 'worker', '-q'], { env, encoding: 'utf8' }).trim();
  log(`joining ${NODES} hollow nodes`);
  hollow = await HollowNodes.start({ manager: address, token: worker, count: NODES, joinConcurrency: 32 });
  while (hollow.connected() < NODES) await sleep(200);

  // Each service written with its tasks in one transaction (see the dispatcher bench for why), then every node
  // reports its tasks running.
  const store = new Store(client);
  const informer = new Informer(store, 'tasks');
  await informer.start();
  const nodeIds = hollow.nodes.map((n) => n.credentials.nodeId);
  log(`writing ${TASKS} tasks`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let s = next++; s < SERVICES; s = next++) {
        const id = `svc-${s}`;
        const writes: Write[] = [
          {
            op: 'create',
            kind: 'services',
            id,
            value: Service.fromPartial({
              id,
              specVersion: 1n,
              spec: { annotations: { name: `bench_svc${s}` }, replicas: BigInt(REPLICAS), container: { image: 'app' } },
            }),
          },
          ...Array.from({ length: REPLICAS }, (_, r): Write => {
            const i = s * REPLICAS + r;
            return {
              op: 'create',
              kind: 'tasks',
              id: `t${i}`,
              value: Task.fromPartial({
                id: `t${i}`,
                serviceId: id,
                serviceName: `bench_svc${s}`,
                slot: BigInt(r + 1),
                nodeId: nodeIds[i % NODES] ?? '',
                desiredState: TaskState.TASK_STATE_RUNNING,
                status: { state: TaskState.TASK_STATE_ASSIGNED },
                specVersion: 1n,
                spec: { image: 'registry.example.com/app:1.0' },
              }),
            };
          }),
        ];
        await store.batch(writes);
      }
    }),
  );
  const allRunning = () =>
    informer.list().filter((t) => /^t\d+$/.test(t.id) && t.value.status?.state === TaskState.TASK_STATE_RUNNING).length;
  for (const deadline = Date.now() + 180_000; allRunning() < TASKS; await sleep(500)) {
    if (Date.now() > deadline) throw new Error(`only ${allRunning()} of ${TASKS} tasks reported running`);
  }

  // `flotilla ui` as an operator starts it, and the page in chromium.
  let printed = '';
  ui = spawn(bin, ['ui', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  ui.stdout?.on('data', (d: Buffer) => {
    printed += d.toString();
  });
  ui.stderr?.on('data', (d: Buffer) => {
    printed += d.toString();
  });
  let url: string | undefined;
  for (const deadline = Date.now() + 20_000; !url; await sleep(100)) {
    url = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(printed)?.[0];
    if (Date.now() > deadline) throw new Error(`flotilla ui printed no URL:\n${printed}`);
  }
  browser = await launchChromium();
  const page = await browser.context.newPage();
  log('opening the page');
  const opened = performance.now();
  await page.goto(url);
  await page.waitForFunction(
    ([nodes, tasks]) =>
      document.querySelectorAll('[data-node-id]').length >= nodes &&
      document.querySelectorAll('[data-task-id]').length >= tasks &&
      !document.querySelector('[aria-busy="true"]'),
    [NODES, TASKS] as const,
    { timeout: 300_000, polling: 100 },
  );
  const firstRenderMs = performance.now() - opened;
  log(`first render: ${Math.round(firstRenderMs)} ms`);

  // Rounds of health changes: each round flips the health of `rate` tasks a second, for ROUND_S, then waits for
  // the page to show every task of the round with its new health.
  const ids = Array.from({ length: TASKS }, (_, i) => `t${i}`);
  const rounds: { rate: number; written_per_s: number; shown_after_ms: number; kept_up: boolean }[] = [];
  let flip = 0;
  for (const rate of RATES) {
    flip++;
    const health = flip % 2 === 1 ? TaskHealth.TASK_HEALTH_UNHEALTHY : TaskHealth.TASK_HEALTH_HEALTHY;
    const word = health === TaskHealth.TASK_HEALTH_UNHEALTHY ? 'unhealthy' : 'healthy';
    const count = Math.min(TASKS, rate * ROUND_S);
    const chosen = ids.slice(0, count);
    const started = performance.now();
    // 100 writes per transaction, one transaction every 100 / rate seconds.
    for (let i = 0; i < count; i += 100) {
      const due = started + (i / rate) * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
      const writes = chosen.slice(i, i + 100).map((id): Write => {
        const task = informer.get(id)?.value as Task;
        return { op: 'put', kind: 'tasks', id, value: { ...task, status: { ...task.status, health } } };
      });
      await store.batch(writes);
    }
    const written = performance.now();
    const writtenPerS = count / ((written - started) / 1000);
    await page.waitForFunction(
      ([list, want]) =>
        list.every((id) => document.querySelector(`[data-task-id="${id}"]`)?.getAttribute('data-health') === want),
      [chosen, word] as const,
      { timeout: 120_000, polling: 50 },
    );
    const shownAfter = performance.now() - written;
    rounds.push({
      rate,
      written_per_s: Math.round(writtenPerS),
      shown_after_ms: Math.round(shownAfter),
      kept_up: shownAfter <= KEPT_UP_MS,
    });
    log(
      `rate ${rate}/s (written ${Math.round(writtenPerS)}/s): all shown ${Math.round(shownAfter)} ms after the last write`,
    );
  }
  await informer.stop();
  const keptUp = rounds.filter((r) => r.kept_up).map((r) => r.written_per_s);
  console.log(
    JSON.stringify({
      bench: 'ui',
      nodes: NODES,
      tasks: TASKS,
      first_render_ms: Math.round(firstRenderMs),
      updates_per_s_kept_up: keptUp.length > 0 ? Math.max(...keptUp) : 0,
      shown_after_ms_p50: percentile(
        rounds.map((r) => r.shown_after_ms),
        50,
      ),
      rounds,
    }),
  );
} finally {
  await browser?.close();
  ui?.kill('SIGINT');
  hollow?.stop();
  if (manager.exitCode === null) manager.kill('SIGKILL');
  client.close();
  await etcd.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
}
