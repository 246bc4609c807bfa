// A rolling update under load on a real three-host cluster on one machine (namespace hosts on a 198.18.x.0/24
// underlay, each with its own containerd and the built agent; see startNetnsCluster). A 6-replica busybox httpd
// service publishes port 8080 on every host (ingress: each host balances over all ready tasks) and has a CMD-SHELL
// healthcheck every second. Several loops in this process send HTTP GETs, each on a new connection with a 3 s
// timeout, round-robin to the three hosts' port 8080, from before the update until it is over. The update is
// `service update --force` (every task replaced): update_s is the time from issuing it until six new tasks run and
// every old one has stopped; `failed` counts the requests that got no 200 (the reasons go to stderr).
//
// The update config is parallelism 2, order start-first, the rest left at the defaults (monitor 5 s, delay 0).
// Zero failures rest on the drain, whatever the order: a task told to stop leaves every host's load balancing at
// once and keeps serving for the agent's drain (2 s by default) before its signal, and a new task joins only once
// its healthcheck passes. The order decides how long a moving slot serves nothing:
// - start-first: the old task keeps serving while its replacement is placed, created and started; the managers
//   tell it to stop once the new one runs (not once it is healthy), so the slot is out of the load balancing only
//   until the new one's first healthcheck passes (about 1 s here);
// - stop-first: the old task leaves the load balancing as the new one is placed, so the slot serves nothing for
//   the whole start plus the first healthcheck (about 2 s here). Nothing is gained in exchange: the service
//   publishes through the ingress load balancing, so old and new tasks never compete for a host port.
// Parallelism 2 does the six slots in three batches instead of six, with at least four of six tasks serving.
// `--order stop-first` and `--parallelism N` run the other settings; `min_ready_during_update` in the details line
// is the fewest tasks in the load balancing while the update ran.
// Needs root. Prints one JSON line of figures last.
// Run: npm run bench -- rollout [--concurrency 4] [--parallelism 2] [--order start-first|stop-first]

import http from 'node:http';
import { parseArgs } from 'node:util';
import { type ControlServiceClient, type Task, TaskHealth, TaskState } from '@flotilla/api';
import { call as callControl, controlClient } from '@flotilla/cli';
import type { NetnsCluster } from '@flotilla/testing';
import { cleanUpOnInterrupt, deployBenchStack, log, seconds, sleep, startBenchCluster } from './lib.js';

const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '4' },
    parallelism: { type: 'string', default: '2' },
    order: { type: 'string', default: 'start-first' },
    'warmup-ms': { type: 'string', default: '3000' },
  },
});
const CONCURRENCY = Number(args.concurrency);
const PARALLELISM = Number(args.parallelism);
const ORDER = args.order;
const WARMUP_MS = Number(args['warmup-ms']);
const REPLICAS = 6;
const STACK = 'rollbench';
const SERVICE = `${STACK}_web`;
const PORT = 8080;
const REQUEST_TIMEOUT_MS = 3_000;
const POLL_MS = 100;
const UPDATE_LIMIT_MS = 300_000;

if (process.getuid?.() !== 0) {
  console.error('the rollout bench makes namespace hosts and runs containers: run it as root');
  process.exit(2);
}
if (ORDER !== 'start-first' && ORDER !== 'stop-first') {
  console.error(`--order is start-first or stop-first, got ${ORDER}`);
  process.exit(2);
}

let cluster: NetnsCluster | undefined;
let control: ControlServiceClient | undefined;

/** A control API call on the bench's client (the CLI's own helper). */
const call = <Req, Res>(method: Parameters<typeof callControl<Req, Res>>[1], req: Req) =>
  callControl(control as ControlServiceClient, method, req);

async function tasks(): Promise<Task[]> {
  const c = control as ControlServiceClient;
  return (await call(c.listTasks, { service: SERVICE, stack: '', node: '' })).tasks;
}

const running = (t: Task) => t.status?.state === TaskState.TASK_STATE_RUNNING;
const live = (t: Task) => running(t) && t.desiredState === TaskState.TASK_STATE_RUNNING;
const healthy = (t: Task) => t.status?.health === TaskHealth.TASK_HEALTH_HEALTHY;

/** One GET on a new connection; resolves with the status, or rejects with why there was none. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', reject);
  });
}

interface Failure {
  /** ms since the update was issued (negative: before). */
  at: number;
  host: string;
  reason: string;
}

/** Loops of GETs round-robin over the hosts until stopped; counts requests and keeps each failure. */
class Load {
  requests = 0;
  readonly failures: Failure[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  /** Where `at` counts from (set when the update is issued). */
  origin = performance.now();

  constructor(addresses: string[], concurrency: number) {
    this.loops = Array.from({ length: concurrency }, async (_, loop) => {
      for (let i = loop; this.running; i++) {
        const host = addresses[i % addresses.length] as string;
        this.requests++;
        try {
          const status = await get(`http://${host}:${PORT}/`);
          if (status !== 200) this.fail(host, `HTTP ${status}`);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          this.fail(host, e.code ?? e.message);
        }
      }
    });
  }

  private fail(host: string, reason: string): void {
    this.failures.push({ at: performance.now() - this.origin, host, reason });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

async function cleanup(): Promise<void> {
  control?.close();
  await cluster?.close();
}

cleanUpOnInterrupt(cleanup);

let load: Load | undefined;
try {
  cluster = await startBenchCluster(3);
  await deployBenchStack(cluster, STACK, [
    'services:',
    '  web:',
    `    image: ${cluster.images.busybox.tag}`,
    '    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]',
    '    init: true',
    `    ports: ["${PORT}:80"]`,
    '    healthcheck:',
    '      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"]',
    '      interval: 1s',
    '    deploy:',
    `      replicas: ${REPLICAS}`,
    `      update_config: { parallelism: ${PARALLELISM}, order: ${ORDER} }`,
  ]);
  control = controlClient(cluster.env.FLOTILLA_CONFIG_DIR as string);
  // Every task healthy, so every host balances over all six, before the load starts.
  for (const deadline = performance.now() + 60_000; ; await sleep(250)) {
    const now = (await tasks()).filter(live);
    if (now.length === REPLICAS && now.every(healthy)) break;
    if (performance.now() > deadline) throw new Error(`${SERVICE}: ${now.filter(healthy).length} healthy tasks`);
  }
  const addresses = cluster.hosts.hosts.map((h) => h.address);
  load = new Load(addresses, CONCURRENCY);
  log(`${REPLICAS} tasks healthy; ${CONCURRENCY} loops of GETs to ${addresses.map((a) => `${a}:${PORT}`).join(', ')}`);
  await sleep(WARMUP_MS);
  const before = await tasks();
  const old = new Set(before.filter(live).map((t) => t.id));
  const requestsBefore = load.requests;

  const t0 = performance.now();
  load.origin = t0;
  const updated = await cluster.cli(['service', 'update', '--detach', '--force', SERVICE]);
  if (updated.code !== 0) throw new Error(`service update failed:\n${updated.output}`);
  log(`update issued (${seconds(performance.now() - t0)} s for the CLI): ${updated.stdout.trim()}`);
  let doneAt: number | undefined;
  let last: Task[] = [];
  let lastShown = '';
  // Tasks in the load balancing (running, meant to run, healthy): the fewest seen while the update ran.
  let minReady = REPLICAS;
  while (doneAt === undefined) {
    const next = performance.now() + POLL_MS;
    last = await tasks();
    const at = performance.now();
    const fresh = last.filter((t) => live(t) && !old.has(t.id));
    const oldRunning = last.filter((t) => old.has(t.id) && running(t));
    const oldMeant = last.filter((t) => old.has(t.id) && live(t));
    const ready = last.filter((t) => live(t) && healthy(t)).length;
    minReady = Math.min(minReady, ready);
    const shown =
      `new: ${fresh.length} running, ${fresh.filter(healthy).length} healthy; old: ${oldMeant.length} meant to ` +
      `run, ${oldRunning.length} running; ${ready} in the load balancing`;
    if (shown !== lastShown) log(`  ${seconds(at - t0)} s: ${shown}`);
    lastShown = shown;
    if (fresh.length === REPLICAS && oldRunning.length === 0) doneAt = at;
    else if (at - t0 > UPDATE_LIMIT_MS) throw new Error(`the update did not finish within ${UPDATE_LIMIT_MS / 1000} s`);
    else await sleep(Math.max(0, next - performance.now()));
  }
  const updateS = seconds(doneAt - t0);
  await load.stop();
  const { requests, failures } = load;
  load = undefined;
  log(
    `update done in ${updateS} s; ${requests} requests (${requests - requestsBefore} from the update on), ` +
      `${failures.length} failed; at least ${minReady} of ${REPLICAS} tasks were in the load balancing throughout`,
  );
  const service = (await call((control as ControlServiceClient).getService, { service: SERVICE })).service;
  log(`update status: ${service?.updateStatus?.message ?? '?'}`);
  const groups = new Map<string, Failure[]>();
  for (const f of failures) groups.set(f.reason, [...(groups.get(f.reason) ?? []), f]);
  for (const [reason, list] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
    const hosts = [...new Set(list.map((f) => f.host))].join(', ');
    const span = `${seconds(Math.min(...list.map((f) => f.at)))}…${seconds(Math.max(...list.map((f) => f.at)))} s`;
    log(`  ${list.length} × ${reason} (from ${hosts}; ${span} after the update was issued)`);
  }
  console.log(
    JSON.stringify({
      bench: 'rollout',
      details: {
        replicas: REPLICAS,
        parallelism: PARALLELISM,
        order: ORDER,
        concurrency: CONCURRENCY,
        requests_before_update: requestsBefore,
        min_ready_during_update: minReady,
        failures: Object.fromEntries([...groups].map(([reason, list]) => [reason, list.length])),
      },
    }),
  );
  console.log(JSON.stringify({ bench: 'rollout', requests, failed: failures.length, update_s: updateS }));
} finally {
  await load?.stop();
  await cleanup();
}
