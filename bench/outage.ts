// The control plane away under load, on a real three-host cluster on one machine (namespace hosts on a
// 198.18.x.0/24 underlay, each with its own containerd and the built agent; the only manager on the gateway; see
// startNetnsCluster). A 3-replica busybox httpd service (one per host) is published on port 8080 of every host;
// separate clients (a new connection per request, 20 ms apart per host) ask every host throughout. First a
// baseline of the same length with the manager up (what the load and the machine fail by themselves), then the
// manager is paused (SIGSTOP: a long GC pause, a hung disk) for --paused-s seconds and resumed, and the bench waits
// until every node is ready again. The runtimes are sampled every second throughout (the control API cannot
// answer while the manager is paused): a task of before missing from a sample, or a task that was not there
// before, counts as restarted; two containers of one slot in a sample would be a slot run twice.
// Needs root. Prints one JSON line of figures last; the goal is 0 failed and 0 restarted.
// Run: npm run bench -- outage [--paused-s 30]

import { parseArgs } from 'node:util';
import { completeSamples, mostPerSlot, type NetnsCluster, sampled, underLoad } from '@flotilla/testing';
import { cleanUpOnInterrupt, deployBenchStack, log, sleep, startBenchCluster } from './lib.js';

const { values: args } = parseArgs({ options: { 'paused-s': { type: 'string', default: '30' } } });
const PAUSED_S = Number(args['paused-s']);
const STACK = 'outbench';
const SERVICE = `${STACK}_web`;
const PORT = 8080;

if (process.getuid?.() !== 0) {
  console.error('the outage bench makes namespace hosts and runs containers: run it as root');
  process.exit(2);
}

interface PsTask {
  id: string;
  slot: string;
  desiredState: string;
  status: { state: string };
}

let cluster: NetnsCluster | undefined;

async function tasks(c: NetnsCluster): Promise<PsTask[]> {
  const ps = await c.cli(['service', 'ps', '--format', 'raw', SERVICE]);
  if (ps.code !== 0) throw new Error(`service ps failed: ${ps.output}`);
  return JSON.parse(ps.stdout) as PsTask[];
}

const live = (t: PsTask) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING';

async function readyNodes(c: NetnsCluster): Promise<number> {
  const ls = await c.cli(['node', 'ls', '--format', 'raw']);
  if (ls.code !== 0) return -1;
  return (JSON.parse(ls.stdout) as { status?: { state: string }; managerStatus?: object }[]).filter(
    (n) => !n.managerStatus && n.status?.state === 'STATE_READY',
  ).length;
}

async function until(what: string, check: () => Promise<boolean>, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s`);
    await sleep(500);
  }
}

cleanUpOnInterrupt(async () => {
  cluster?.managers[0]?.resume();
  await cluster?.close();
});

try {
  const c = await startBenchCluster(3);
  cluster = c;
  await deployBenchStack(c, STACK, [
    'services:',
    '  web:',
    `    image: ${c.images.busybox.tag}`,
    '    command: ["sh", "-c", "mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 80 -h /www"]',
    '    init: true',
    `    ports: ["${PORT}:80"]`,
    '    deploy:',
    '      replicas: 3',
    '      placement: { max_replicas_per_node: 1 }',
  ]);
  await until('3 tasks running', async () => (await tasks(c)).filter(live).length === 3, 60_000);
  const before = (await tasks(c)).filter(live).map((t) => t.id);
  const addresses = c.hosts.hosts.map((h) => h.address);

  log(`baseline: ${PAUSED_S} s of load with the manager up`);
  const baseline = await underLoad(addresses, PORT, () => sleep(PAUSED_S * 1_000));

  const manager = c.managers[0];
  if (!manager) throw new Error('no manager');
  log(`pausing the manager (SIGSTOP) for ${PAUSED_S} s under the same load`);
  let resumedToReady = 0;
  const { result: load, samples } = await sampled(c, () =>
    underLoad(addresses, PORT, async () => {
      manager.pause();
      try {
        await sleep(PAUSED_S * 1_000);
      } finally {
        manager.resume();
      }
      const resumed = Date.now();
      await until('every node ready again', async () => (await readyNodes(c)) === 3, 120_000);
      resumedToReady = Date.now() - resumed;
      // A few more seconds of load once the cluster is whole again.
      await sleep(3_000);
    }),
  );
  const after = await tasks(c);
  const slotOf = new Map(after.map((t) => [t.id, t.slot] as [string, string]));
  // Restarted: a task of before that some sample did not show running, or a task started since.
  // (Samples that could not read every runtime say nothing of the hosts they missed: only complete ones count.)
  const complete = completeSamples(samples);
  const stopped = before.filter((id) => complete.some((s) => !s.running.includes(id)));
  const started = after.filter((t) => live(t) && !before.includes(t.id)).map((t) => t.id);
  const restarted = new Set([...stopped, ...started]).size;
  const figures = {
    bench: 'outage',
    paused_s: PAUSED_S,
    requests: load.requests,
    failed: load.failed.length,
    tasks_restarted: restarted,
    most_per_slot: mostPerSlot(samples, slotOf),
    samples: samples.length,
    complete_samples: complete.length,
    resumed_to_ready_s: Math.round(resumedToReady / 100) / 10,
    baseline_requests: baseline.requests,
    baseline_failed: baseline.failed.length,
  };
  if (load.failed.length > 0) log(`failed requests (first 5): ${load.failed.slice(0, 5).join('; ')}`);
  if (restarted > 0) log(`restarted: stopped ${stopped.join(', ') || 'none'}; started ${started.join(', ') || 'none'}`);
  console.log(JSON.stringify(figures));
} finally {
  await cluster?.close();
}
