// One real node: a manager process and an agent process driving a private containerd (runc), with the image
// already pulled from a local registry. Assigns 50 tasks to the node and measures, per task, the time from its
// assignment (the scheduler's ASSIGNED status) to running (the agent's RUNNING status), and the agent's memory
// idle and with the 50 containers running (containerd and the shims are not counted). Needs root.
// Prints one JSON line of figures last. Run: npm run bench -- agent [--tasks 50]

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ControlServiceClient,
  ServiceMode,
  ServiceSpec,
  type StackSpec,
  type Task,
  TaskState,
} from '@flotilla/api';
import { controlClient } from '@flotilla/cli';
import { connectEtcd, Informer, Store } from '@flotilla/store';
import {
  type DaemonProcess,
  ManagedProcess,
  pushTestImages,
  startContainerd,
  startDaemon,
  startEtcd,
  startRegistry,
  tempDir,
} from '@flotilla/testing';
import { Metadata, type ServiceError } from '@grpc/grpc-js';

const { values: args } = parseArgs({ options: { tasks: { type: 'string', default: '50' } } });
const TASKS = Number(args.tasks);
if (process.getuid?.() !== 0) {
  console.error('the agent bench runs containers: run it as root');
  process.exit(2);
}

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'node_modules', '.bin', 'flotilla');
const log = (message: string) => process.stderr.write(`${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const [etcd, registry, containerd] = await Promise.all([
  startEtcd(),
  startRegistry(),
  startContainerd({ label: 'bench' }),
]);
const dirs = [tempDir('bench-agent-manager'), tempDir('bench-agent-node'), tempDir('bench-agent-cli')];
const [managerDir, agentDir, cliDir] = dirs.map((d) => d.path) as [string, string, string];
const env = { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: 'warn' };
const client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 30_000 });
const tasks = new Informer(new Store(client), 'tasks');
const children: DaemonProcess[] = [];
let control: ControlServiceClient | undefined;

function daemon(argv: string[]): DaemonProcess {
  const d = startDaemon(bin, argv, { cwd: root, env });
  children.push(d);
  return d;
}

async function until(what: string, ok: () => boolean, timeoutMs: number, explain = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${explain()}`);
    await sleep(50);
  }
}

/** Resident memory of a process, in MB. */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Math.round((Number(line?.split(/\s+/)[1] ?? 0) / 1024) * 10) / 10;
}

function deploy(stack: StackSpec): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    control?.deployStack(
      { stack, prune: true },
      new Metadata(),
      { deadline: Date.now() + 30_000 },
      (err: ServiceError | null) => (err ? reject(err) : resolve()),
    ),
  );
}

function stackOf(image: string, replicas: number): StackSpec {
  return {
    name: 'bench',
    services: [
      ServiceSpec.fromPartial({
        annotations: { name: 'bench_sleeper' },
        stack: 'bench',
        mode: ServiceMode.SERVICE_MODE_REPLICATED,
        replicas: BigInt(replicas),
        container: { image, command: ['sleep', '3600'], commandSet: true, stopGracePeriodNs: 1_000_000_000n },
      }),
    ],
    networks: [],
    volumes: [],
    configs: [],
    secrets: [],
  };
}

/** CPU time a process has used so far (user + system), in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const ctrArgs = ['-a', containerd.socket, '-n', containerd.namespace];
function ctrList(): string[] {
  return execFileSync('ctr', [...ctrArgs, 'tasks', 'ls', '-q'])
    .toString()
    .trim()
    .split('\n')
    .filter(Boolean);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

try {
  const image = (await pushTestImages(registry.address)).busybox.tag;
  const manager = daemon([
    'manager',
    'start',
    '--etcd',
    etcd.url,
    '--listen',
    '127.0.0.1:0',
    '--state-dir',
    managerDir,
  ]);
  const address = (await manager.waitFor(/listening on (127\.0\.0\.1:\d+)/))[1] as string;
  const token = execFileSync(bin, ['join-token', 'worker', '-q'], { env, encoding: 'utf8' }).trim();
  const agent = daemon([
    'agent',
    'start',
    '--join',
    address,
    '--token',
    token,
    '--state-dir',
    agentDir,
    '--executor',
    'containerd',
    '--containerd-socket',
    containerd.socket,
    '--containerd-namespace',
    containerd.namespace,
    // One node on this machine's own network: no overlay (e2e/overlay.test.ts runs it on namespace hosts).
    '--no-overlay',
  ]);
  await agent.waitFor(/node \w+ \(worker\) started/);
  // The operator credentials and address the manager wrote to the CLI's config directory.
  control = controlClient(cliDir);
  await tasks.start();
  const live = (t: Task) => t.desiredState === TaskState.TASK_STATE_RUNNING;
  const runningCount = () =>
    tasks.list().filter((t) => live(t.value) && t.value.status?.state === TaskState.TASK_STATE_RUNNING).length;

  // The image is pulled once (one task), then that task is removed: the measured tasks find it present.
  await deploy(stackOf(image, 1));
  await until('the warm-up task', () => runningCount() === 1, 60_000);
  await deploy(stackOf(image, 0));
  await until('the warm-up task to stop', () => tasks.list().every((t) => !live(t.value)), 60_000);
  await sleep(3_000);
  const agentPid = agent.child.pid as number;
  const idle = rssMb(agentPid);
  log(`agent idle: ${idle} MB`);

  // Every status a task passes through is a store revision: the informer sees ASSIGNED and RUNNING with the
  // timestamps their writers gave them (the scheduler's and the agent's, on this one machine's clock).
  const assignedAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  tasks.subscribe((set) => {
    for (const change of set.changes) {
      if (change.type === 'delete') continue;
      const s = change.value.status;
      if (!s || !live(change.value)) continue;
      if (s.state === TaskState.TASK_STATE_ASSIGNED) assignedAt.set(change.id, Number(s.timestampMs));
      if (s.state === TaskState.TASK_STATE_RUNNING && !runningAt.has(change.id)) {
        runningAt.set(change.id, Number(s.timestampMs));
      }
    }
  });
  const cpu0 = { agent: cpuMs(agentPid), containerd: cpuMs(containerd.process.pid) };
  const t0 = performance.now();
  await deploy(stackOf(image, TASKS));
  await until(
    `${TASKS} tasks running`,
    () => runningCount() === TASKS,
    120_000,
    () => `${runningCount()} running`,
  );
  log(`${TASKS} tasks running ${Math.round(performance.now() - t0)} ms after the deploy`);
  // Where the time goes: the agent's own CPU, and containerd's (the shims and runc come on top).
  log(
    `CPU while starting them: agent ${cpuMs(agentPid) - cpu0.agent} ms, containerd ${cpuMs(containerd.process.pid) - cpu0.containerd} ms`,
  );
  await sleep(2_000);
  const loaded = rssMb(agentPid);
  const starts = [...runningAt]
    .filter(([id]) => assignedAt.has(id))
    .map(([id, at]) => at - (assignedAt.get(id) as number))
    .sort((a, b) => a - b);
  if (starts.length < TASKS) log(`(assignment seen for ${starts.length} of ${TASKS} tasks)`);
  log(`containerd runs ${ctrList().length} containers`);
  await deploy(stackOf(image, 0));
  await until('the tasks to stop', () => tasks.list().every((t) => !live(t.value) || !t.value.nodeId), 120_000);
  await until('the containers to go', () => ctrList().length === 0, 60_000);

  // The floor under those figures on this machine: the same number of containers started straight with
  // containerd's own client (`ctr run -d`, all at once), without Flotilla.
  const normalized =
    execFileSync('ctr', [...ctrArgs, 'images', 'ls', '-q'])
      .toString()
      .trim()
      .split('\n')[0] ?? '';
  const c0 = performance.now();
  await Promise.all(
    Array.from(
      { length: TASKS },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('ctr', [...ctrArgs, 'run', '-d', normalized, `baseline-${i}`, 'sleep', '3600'], {
            stdio: 'ignore',
          });
          child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ctr run exited ${code}`))));
        }),
    ),
  );
  const ctrRunMs = Math.round(performance.now() - c0);
  log(`ctr run -d of ${TASKS} containers at once: ${ctrRunMs} ms`);
  for (const id of ctrList()) {
    execFileSync('ctr', [...ctrArgs, 'tasks', 'kill', '-s', 'SIGKILL', id]);
  }
  await sleep(500);
  for (let i = 0; i < TASKS; i++) {
    execFileSync('ctr', [...ctrArgs, 'tasks', 'rm', '-f', `baseline-${i}`], { stdio: 'ignore' });
    execFileSync('ctr', [...ctrArgs, 'containers', 'rm', `baseline-${i}`], { stdio: 'ignore' });
  }
  console.log(
    JSON.stringify({
      bench: 'agent',
      tasks: TASKS,
      start_p50_ms: percentile(starts, 50),
      start_p99_ms: percentile(starts, 99),
      idle_rss_mb: idle,
      rss_50_tasks_mb: loaded,
      ctr_run_all_ms: ctrRunMs,
    }),
  );
} finally {
  for (const c of children.reverse()) await c.stop();
  control?.close();
  void tasks.stop();
  client.close();
  await containerd.destroy();
  await Promise.all([etcd.destroy(), registry.stop()]);
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
}
