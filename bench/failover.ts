// Host failure on a real three-host cluster on one machine (namespace hosts on a 198.18.x.0/24 underlay, each with
// its own containerd and the built agent; see startNetnsCluster). A 6-replica busybox httpd service is spread over
// the hosts; each run kills one host that runs some of its tasks (ClusterNode.kill(): its link is cut, then its
// agent, containerd, shims and containers are SIGKILLed, as in a power cut) and measures the seconds from the kill
// until the managers have six tasks running again, all on the live hosts. The managers' defaults apply (heartbeat
// 1 s, a node is down after 3 missed periods). The host then comes back (restore(): a fresh containerd, the agent
// from its state directory), and the next run starts once the node is ready and the service is back to 6/6, spread
// again. Throughout, the bench counts the tasks that run meant to run, by phase (steady, failover, restore,
// rebalance): more than six, or two in a slot, would be a duplicate. The one expected exception is the rebalance
// onto the returned host: each move is start-first, so its slot has two such tasks from the moment the new one
// runs until the orchestrator's next round tells the old one to stop.
// Tasks and nodes are polled through the control API (what `service ps` and `node ls` call), every
// --poll-ms: a CLI process per poll would take longer to start than the interval.
// Needs root. Prints one JSON line of figures last.
// Run: npm run bench -- failover [--runs 10] [--poll-ms 100]

import { parseArgs } from 'node:util';
import { type ControlServiceClient, type Node, NodeStatus_State, type Task, TaskState } from '@flotilla/api';
import { call as callControl, controlClient } from '@flotilla/cli';
import type { ClusterNode, NetnsCluster } from '@flotilla/testing';
import { cleanUpOnInterrupt, deployBenchStack, log, percentile, seconds, sleep, startBenchCluster } from './lib.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    'poll-ms': { type: 'string', default: '100' },
  },
});
const RUNS = Number(args.runs);
const POLL_MS = Number(args['poll-ms']);
const REPLICAS = 6;
const HOSTS = 3;
const STACK = 'failbench';
const SERVICE = `${STACK}_web`;
/** How long a recovery (or a return to 6/6 after a restore) may take before the run counts as failed. */
const RECOVERY_LIMIT_MS = 120_000;
/** How long the service may take to spread over the returned host again before the next run starts anyway. */
const REBALANCE_LIMIT_MS = 60_000;

if (process.getuid?.() !== 0) {
  console.error('the failover bench makes namespace hosts and runs containers: run it as root');
  process.exit(2);
}

let cluster: NetnsCluster | undefined;
let control: ControlServiceClient | undefined;

/** A control API call on the bench's client (the CLI's own helper). */
const call = <Req, Res>(method: Parameters<typeof callControl<Req, Res>>[1], req: Req) =>
  callControl(control as ControlServiceClient, method, req);

/** Running and meant to run: what fills a slot. */
const live = (t: Task) =>
  t.status?.state === TaskState.TASK_STATE_RUNNING && t.desiredState === TaskState.TASK_STATE_RUNNING;

interface Sample {
  at: number;
  tasks: Task[];
  nodes: Node[];
}

/** Tasks of the service and the nodes, as the managers see them now. */
async function sample(): Promise<Sample> {
  const c = control as ControlServiceClient;
  const [{ tasks }, { nodes }] = await Promise.all([
    call(c.listTasks, { service: SERVICE, stack: '', node: '' }),
    call(c.listNodes, {}),
  ]);
  return { at: performance.now(), tasks, nodes };
}

/** Live tasks by host name, e.g. {h1: 2, h2: 2, h3: 2}. */
function spread(tasks: Task[]): Record<string, number> {
  const nodes = (cluster as NetnsCluster).nodes;
  return Object.fromEntries(
    nodes.map((n) => [n.host.name, tasks.filter((t) => live(t) && t.nodeId === n.nodeId).length]),
  );
}

/** Phases of a run, for the duplicate check. */
type Phase = 'steady' | 'failover' | 'restore' | 'rebalance';

/**
 * The most tasks live at once, and the most live tasks of one slot, per phase over the samples the bench took.
 * While the managers move tasks back onto a returned host (rebalance), a move is start-first: its slot has two
 * live tasks from the moment the new one runs until the orchestrator's next round stops the old one.
 */
class DuplicateWatch {
  readonly maxLive: Record<Phase, number> = { steady: 0, failover: 0, restore: 0, rebalance: 0 };
  readonly maxPerSlot: Record<Phase, number> = { steady: 0, failover: 0, restore: 0, rebalance: 0 };
  /** What the samples with more than REPLICAS live tasks (or two in a slot) showed. */
  readonly excess: string[] = [];

  see(s: Sample, phase: Phase, label: string): void {
    const running = s.tasks.filter(live);
    const slots = new Map<bigint, number>();
    for (const t of running) slots.set(t.slot, (slots.get(t.slot) ?? 0) + 1);
    const perSlot = Math.max(0, ...slots.values());
    this.maxLive[phase] = Math.max(this.maxLive[phase], running.length);
    this.maxPerSlot[phase] = Math.max(this.maxPerSlot[phase], perSlot);
    if (running.length > REPLICAS || perSlot > 1) {
      const doubled = running
        .filter((t) => (slots.get(t.slot) ?? 0) > 1)
        .map((t) => `slot ${t.slot}: ${t.id.slice(0, 8)} on ${hostOf(t.nodeId)}`)
        .join(', ');
      this.excess.push(`${label} (${phase}): ${running.length} live; ${doubled}`);
    }
  }

  /** The most live tasks outside rebalancing moves. */
  get maxOutsideRebalance(): number {
    return Math.max(this.maxLive.steady, this.maxLive.failover, this.maxLive.restore);
  }
}

function hostOf(nodeId: string): string {
  return (cluster as NetnsCluster).nodes.find((n) => n.nodeId === nodeId)?.host.name ?? nodeId.slice(0, 8);
}

function nodeState(s: Sample, node: ClusterNode): NodeStatus_State | undefined {
  return s.nodes.find((n) => n.id === node.nodeId)?.status?.state;
}

/** Polls until `done` holds for a sample (each one shown to `watch`); fails after `limitMs`. */
async function pollUntil(
  what: string,
  done: (s: Sample) => boolean,
  watch: (s: Sample) => void,
  limitMs: number,
): Promise<Sample> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const next = performance.now() + POLL_MS;
    const s = await sample();
    watch(s);
    if (done(s)) return s;
    if (s.at > deadline) {
      throw new Error(`${what}: not reached within ${limitMs / 1000} s; spread ${JSON.stringify(spread(s.tasks))}`);
    }
    await sleep(Math.max(0, next - performance.now()));
  }
}

interface Run {
  run: number;
  host: string;
  tasks_on_host: number;
  /** From the kill until the managers marked the node down (the time they wrote on the node). */
  kill_to_down_s: number;
  /** From the kill until the last replacement task was created (the orchestrator's time on it). */
  kill_to_created_s: number;
  /** From the kill until the last replacement began running (its agent's time on its status). */
  kill_to_started_s: number;
  /** From the kill until six tasks ran meant to run, none on the killed host. */
  kill_to_running_s: number;
  /** From restore() until the node was ready, the service 6/6 and spread over all hosts again. */
  restore_to_spread_s: number;
  spread_after: Record<string, number>;
}

async function cleanup(): Promise<void> {
  control?.close();
  await cluster?.close();
}

// An interrupted run still takes the cluster down.
cleanUpOnInterrupt(cleanup);

try {
  cluster = await startBenchCluster(HOSTS);
  await deployBenchStack(cluster, STACK, [
    'services:',
    '  web:',
    `    image: ${cluster.images.busybox.tag}`,
    '    command: ["httpd", "-f", "-p", "80"]',
    '    init: true',
    '    deploy:',
    `      replicas: ${REPLICAS}`,
  ]);
  control = controlClient(cluster.env.FLOTILLA_CONFIG_DIR as string);
  const watch = new DuplicateWatch();
  const nodes = cluster.nodes;
  const allReady = (s: Sample) => nodes.every((n) => nodeState(s, n) === NodeStatus_State.STATE_READY);
  const whole = (s: Sample) => s.tasks.filter(live).length === REPLICAS;
  const spreadEvenly = (s: Sample) => {
    const counts = Object.values(spread(s.tasks));
    return Math.max(...counts) - Math.min(...counts) <= 1;
  };
  await pollUntil(
    'deployed and spread',
    (s) => allReady(s) && whole(s) && spreadEvenly(s),
    (s) => watch.see(s, 'steady', 'deploy'),
    RECOVERY_LIMIT_MS,
  );

  const runs: Run[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const before = await sample();
    watch.see(before, 'steady', `run ${i} before the kill`);
    // Hosts in turn, each one that runs some of the service's tasks.
    const candidates = nodes.filter((n) => before.tasks.some((t) => live(t) && t.nodeId === n.nodeId));
    const victim = candidates[(i - 1) % candidates.length] as ClusterNode;
    const onHost = before.tasks.filter((t) => live(t) && t.nodeId === victim.nodeId).length;

    const wasLive = new Set(before.tasks.filter(live).map((t) => t.id));
    const t0 = performance.now();
    const t0Wall = Date.now();
    await victim.kill();
    const killedIn = performance.now() - t0;
    let downAt: number | undefined;
    const recovered = await pollUntil(
      `run ${i}: six tasks running on the live hosts`,
      (s) => {
        const running = s.tasks.filter(live);
        return running.length === REPLICAS && !running.some((t) => t.nodeId === victim.nodeId);
      },
      (s) => {
        const node = s.nodes.find((n) => n.id === victim.nodeId);
        if (downAt === undefined && node?.status?.state === NodeStatus_State.STATE_DOWN) {
          downAt = Number(node.updatedAtMs);
        }
        watch.see(s, 'failover', `run ${i}, ${victim.host.name} killed`);
      },
      RECOVERY_LIMIT_MS,
    );
    const killToRunning = recovered.at - t0;
    // The same machine's clock everywhere: the managers' and the agents' times on the objects line up with ours.
    const replacements = recovered.tasks.filter((t) => live(t) && !wasLive.has(t.id));
    const killToDown = (downAt ?? Number.NaN) - t0Wall;
    const killToCreated = Math.max(...replacements.map((t) => Number(t.createdAtMs))) - t0Wall;
    const killToStarted = Math.max(...replacements.map((t) => Number(t.status?.timestampMs ?? 0n))) - t0Wall;
    log(
      `run ${i}/${RUNS}: killed ${victim.host.name} (${onHost} of ${REPLICAS} tasks) in ${Math.round(killedIn)} ms; ` +
        `node down at ${seconds(killToDown)} s, ${replacements.length} replacements created by ` +
        `${seconds(killToCreated)} s, running by ${seconds(killToStarted)} s; ${REPLICAS} running on the live hosts ` +
        `seen at ${seconds(killToRunning)} s ${JSON.stringify(spread(recovered.tasks))}`,
    );

    const t1 = performance.now();
    await victim.restore();
    const back = await pollUntil(
      `run ${i}: ${victim.host.name} ready and the service whole`,
      (s) => allReady(s) && whole(s),
      (s) => watch.see(s, 'restore', `run ${i}, ${victim.host.name} restored`),
      RECOVERY_LIMIT_MS,
    );
    // The managers move tasks back to a returning node (rebalance, start-first): wait for the spread.
    let spreadAgain = back;
    try {
      spreadAgain = await pollUntil(
        `run ${i}: spread again`,
        (s) => allReady(s) && whole(s) && spreadEvenly(s),
        (s) => watch.see(s, 'rebalance', `run ${i}, moving tasks back onto ${victim.host.name}`),
        REBALANCE_LIMIT_MS,
      );
    } catch (err) {
      log(`run ${i}: ${(err as Error).message}; going on`);
    }
    // A little longer, to catch a late duplicate (an old task of the killed host coming back).
    const settleUntil = performance.now() + 2_000;
    while (performance.now() < settleUntil) {
      watch.see(await sample(), 'steady', `run ${i}, settled`);
      await sleep(POLL_MS);
    }
    const restoreToSpread = spreadAgain.at - t1;
    log(
      `run ${i}/${RUNS}: ${victim.host.name} back; ready and 6/6 after ${seconds(back.at - t1)} s, spread ` +
        `${JSON.stringify(spread(spreadAgain.tasks))} after ${seconds(restoreToSpread)} s; most live so far: ` +
        `${JSON.stringify(watch.maxLive)}`,
    );
    runs.push({
      run: i,
      host: victim.host.name,
      tasks_on_host: onHost,
      kill_to_down_s: seconds(killToDown),
      kill_to_created_s: seconds(killToCreated),
      kill_to_started_s: seconds(killToStarted),
      kill_to_running_s: seconds(killToRunning),
      restore_to_spread_s: seconds(restoreToSpread),
      spread_after: spread(spreadAgain.tasks),
    });
  }

  log(
    `most live tasks by phase ${JSON.stringify(watch.maxLive)}, most in one slot ${JSON.stringify(watch.maxPerSlot)}`,
  );
  if (watch.excess.length > 0) {
    log(`more than ${REPLICAS} live tasks, or two in one slot, in ${watch.excess.length} samples:`);
    for (const e of watch.excess.slice(0, 30)) log(`  ${e}`);
  }
  if (watch.maxOutsideRebalance > REPLICAS) log(`DUPLICATES outside the start-first moves of a rebalance`);
  const times = runs.map((r) => r.kill_to_running_s);
  const downs = runs.map((r) => r.kill_to_down_s);
  console.log(
    JSON.stringify({
      bench: 'failover',
      details: {
        replicas: REPLICAS,
        hosts: HOSTS,
        poll_ms: POLL_MS,
        kill_to_down_p50_s: percentile(downs, 50),
        kill_to_down_max_s: percentile(downs, 100),
        max_live_tasks: watch.maxLive,
        max_live_per_slot: watch.maxPerSlot,
        samples_with_two_in_a_slot: watch.excess.length,
        runs,
      },
    }),
  );
  console.log(
    JSON.stringify({
      bench: 'failover',
      runs: runs.length,
      kill_to_running_p50_s: percentile(times, 50),
      kill_to_running_p99_s: percentile(times, 99),
    }),
  );
} finally {
  await cleanup();
}
