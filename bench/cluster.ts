// The whole control plane at scale on one machine: a manager process (real etcd, real gRPC and mutual TLS) and
// 1,000 hollow nodes in this process. Deploys 100 services × 100 replicas and measures the seconds from the
// deploy call until all 10,000 tasks report running; then stops 100 nodes and measures the seconds from their
// being marked down until all their tasks run elsewhere. Prints one JSON line of figures last.
// Run: npm run bench -- cluster

import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ControlServiceClient,
  NodeStatus_State,
  ServiceMode,
  ServiceSpec,
  type StackSpec,
  type Task,
  TaskState,
} from '@flotilla/api';
import { controlClient } from '@flotilla/cli';
import { connectEtcd, Informer, Store } from '@flotilla/store';
import { HollowNodes, ManagedProcess, startEtcd, tempDir } from '@flotilla/testing';
import { Metadata, type ServiceError } from '@grpc/grpc-js';

// Smaller runs for a quick look: npm run bench -- cluster --nodes 100 --services 10 --replicas 100 --kill 10
const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    services: { type: 'string', default: '100' },
    replicas: { type: 'string', default: '100' },
    kill: { type: 'string', default: '100' },
  },
});
const NODES = Number(args.nodes);
const SERVICES = Number(args.services);
const REPLICAS = Number(args.replicas);
const KILL = Number(args.kill);
const TASKS = SERVICES * REPLICAS;

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');
const etcd = await startEtcd();
const dirs = [tempDir('bench-cluster-manager'), tempDir('bench-cluster-cli')];
const cliDir = dirs[1]?.path as string;
const client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 30_000 });
let output = '';
const manager = spawn(
  bin,
  ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: 'warn' } },
);
manager.stderr?.on('data', (d: Buffer) => {
  output += d.toString();
});
const log = (message: string) => process.stderr.write(`${message}\n`);
const elapsed = (from: number) => Math.round((performance.now() - from) / 10) / 100;

let hollow: HollowNodes | undefined;
let control: ControlServiceClient | undefined;
const tasks = new Informer(new Store(client), 'tasks');
const nodes = new Informer(new Store(client), 'nodes');
try {
  const deadline = Date.now() + 30_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(output)) {
    if (Date.now() > deadline || manager.exitCode !== null) throw new Error(`the manager did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  const token = execFileSync(bin, ['join-token', 'worker', '-q'], {
    env: { ...process.env, FLOTILLA_CONFIG_DIR: cliDir },
    encoding: 'utf8',
  }).trim();
  hollow = await HollowNodes.start({ manager: address, token, count: NODES, joinConcurrency: 32 });
  await Promise.all([tasks.start(), nodes.start()]);
  const ready = () => nodes.list().filter((n) => n.value.status?.state === NodeStatus_State.STATE_READY).length;
  while (ready() < NODES) await new Promise((r) => setTimeout(r, 200));
  log(`${NODES} nodes ready`);

  // The operator credentials and address the manager wrote to the CLI's config directory.
  control = controlClient(cliDir);
  const stack: StackSpec = {
    name: 'bench',
    services: Array.from({ length: SERVICES }, (_, i) =>
      ServiceSpec.fromPartial({
        annotations: { name: `bench_svc${i}` },
        stack: 'bench',
        mode: ServiceMode.SERVICE_MODE_REPLICATED,
        replicas: BigInt(REPLICAS),
        container: { image: 'registry.local/app:1' },
        resources: { reservations: { nanoCpus: 10_000_000n, memoryBytes: 16n * 1024n * 1024n } },
        updateConfig: { parallelism: 1n },
      }),
    ),
    networks: [],
    volumes: [],
    configs: [],
    secrets: [],
  };
  const running = () => tasks.list().filter((t) => isRunning(t.value)).length;

  const deployStart = performance.now();
  await new Promise<void>((resolve, reject) =>
    control?.deployStack(
      { stack, prune: false },
      new Metadata(),
      { deadline: Date.now() + 30_000 },
      (err: ServiceError | null) => (err ? reject(err) : resolve()),
    ),
  );
  // Progress by stage (stderr): tasks created, assigned to nodes, running.
  const stages: Record<string, number> = {};
  while (running() < TASKS) {
    if (performance.now() - deployStart > 600_000) throw new Error(`only ${running()} of ${TASKS} running`);
    const all = tasks.list();
    const created = all.length;
    const assigned = all.filter((t) => t.value.nodeId).length;
    for (const [stage, n] of [
      ['created', created],
      ['assigned', assigned],
    ] as const) {
      if (n >= TASKS && stages[stage] === undefined) {
        stages[stage] = elapsed(deployStart);
        log(`all ${TASKS} tasks ${stage} after ${stages[stage]} s`);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const deployS = elapsed(deployStart);
  log(`${TASKS} tasks running ${deployS} s after the deploy`);

  // Failover: stop 100 nodes (their agents and fake runtimes are gone, as when hosts die).
  const victims = hollow.nodes.slice(0, KILL);
  const victimIds = new Set(victims.map((n) => n.credentials.nodeId));
  const lost = tasks.list().filter((t) => isRunning(t.value) && victimIds.has(t.value.nodeId)).length;
  for (const v of victims) v.session.stop();
  const downAt = await new Promise<number>((resolve) => {
    const check = () => {
      const down = nodes
        .list()
        .filter((n) => victimIds.has(n.id) && n.value.status?.state === NodeStatus_State.STATE_DOWN);
      if (down.length === KILL) resolve(performance.now());
      else setTimeout(check, 10);
    };
    check();
  });
  log(`${KILL} nodes marked down; ${lost} tasks to replace`);
  const elsewhere = () => tasks.list().filter((t) => isRunning(t.value) && !victimIds.has(t.value.nodeId)).length;
  while (elsewhere() < TASKS) {
    if (performance.now() - downAt > 300_000) throw new Error(`only ${elsewhere()} of ${TASKS} running elsewhere`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const failoverS = elapsed(downAt);
  log(`all tasks running elsewhere ${failoverS} s after the nodes were marked down`);
  console.log(
    JSON.stringify({
      bench: 'cluster',
      nodes: NODES,
      tasks: TASKS,
      deploy_to_running_s: deployS,
      failover_s: failoverS,
    }),
  );
} finally {
  // The manager first: nothing below may leave it running.
  if (manager.exitCode === null) {
    manager.kill('SIGTERM');
    const exited = new Promise((r) => manager.once('exit', r));
    const timer = setTimeout(() => manager.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  control?.close();
  hollow?.stop();
  void tasks.stop();
  void nodes.stop();
  client.close();
  await etcd.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
}

function isRunning(t: Task): boolean {
  return t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING;
}
