// Overlay networking on a real three-host cluster on one machine (namespace hosts on a 198.18.x.0/24 underlay,
// each with its own containerd and the built agent; see startNetnsCluster). Deploys one global busybox service,
// so every host runs one task, then measures:
// - TCP throughput (iperf3, one stream) from a task on one host to a task on another, over the overlay (VXLAN),
//   and between the same two hosts' own namespaces over the underlay; the median of several runs of each;
// - DNS latency from inside a container to its node's DNS server: sequential A queries for the service's name
//   (which the server answers itself), then the same with several in flight, timed inside the querying process.
// Needs root and Debian's iperf3 (scripts/bench.sh installs it). Prints one JSON line of figures last.
// Run: npm run bench -- network [--seconds 10] [--runs 3] [--queries 2000] [--inflight 8]

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ClusterNode, NetnsCluster } from '@flotilla/testing';
import { cleanUpOnInterrupt, deployBenchStack, log, sleep, startBenchCluster } from './lib.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    queries: { type: 'string', default: '2000' },
    inflight: { type: 'string', default: '8' },
  },
});
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
const QUERIES = Number(args.queries);
const INFLIGHT = Number(args.inflight);
const IPERF_PORT = 5201;
const STACK = 'netbench';
const SERVICE = `${STACK}_box`;

if (process.getuid?.() !== 0) {
  console.error('the network bench makes namespace hosts and runs containers: run it as root');
  process.exit(2);
}
if (!existsSync('/usr/bin/iperf3')) {
  console.error('iperf3 is missing: `npm run bench -- network` installs Debian iperf3 as root');
  process.exit(2);
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

interface PsTask {
  id: string;
  nodeId: string;
  desiredState: string;
  status: { state: string };
}

/** One iperf3 measurement: what the receiver counted, and the sender's retransmits and CPU. */
interface IperfRun {
  mbps: number;
  retransmits: number | undefined;
  senderCpu: number | undefined;
  receiverCpu: number | undefined;
}

/** The iperf3 servers this process started, so none outlives it. */
const servers = new Set<ChildProcess>();
let cluster: NetnsCluster | undefined;
let execs = 0;

/** Runs a command without a shell; resolves with stdout, rejects with its stderr (and stdout). */
function run(command: string, argv: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<string>((resolve, reject) => {
    const child = execFile(
      command,
      argv,
      {
        timeout: options.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        ...(options.env ? { env: options.env } : {}),
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${argv.join(' ')}: ${err.message}\n${stderr}${stdout}`.trim()));
        else resolve(stdout);
      },
    );
    child.stdin?.end();
  });
}

const netnsOf = (task: PsTask) => `/run/netns/flt-${task.id}`;

async function runningTasks(service: string): Promise<PsTask[]> {
  const ps = await (cluster as NetnsCluster).cli(['service', 'ps', '--format', 'raw', service]);
  if (ps.code !== 0) return [];
  return (JSON.parse(ps.stdout) as PsTask[]).filter(
    (t) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING',
  );
}

/** The IPv4 address of eth0 in a task's network namespace (its address on its first network). */
async function overlayAddress(task: PsTask): Promise<string> {
  const out = await run('ip', ['-n', `flt-${task.id}`, '-o', '-4', 'addr', 'show', 'eth0']);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  if (!m) throw new Error(`no IPv4 address on eth0 of task ${task.id}: ${out}`);
  return m[1] as string;
}

async function mtuOf(netnsName: string, dev: string): Promise<number> {
  const out = await run('ip', ['-n', netnsName, '-o', 'link', 'show', dev]);
  return Number(/ mtu (\d+)/.exec(out)?.[1] ?? Number.NaN);
}

/** Ends an iperf3 server (by its PID, which is nsenter's: nsenter execs iperf3) and waits for it. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
  servers.delete(server);
}

/**
 * One iperf3 test: a one-off server bound to `serverAddress` inside the namespace at `serverNetns`, and a client
 * inside `clientNetns` sending to it for SECONDS; the throughput is what the receiver counted.
 */
async function iperf(serverNetns: string, serverAddress: string, clientNetns: string): Promise<IperfRun> {
  const server = spawn(
    'nsenter',
    [
      `--net=${serverNetns}`,
      '--',
      'iperf3',
      '--server',
      '--one-off',
      '--bind',
      serverAddress,
      '--port',
      String(IPERF_PORT),
      '--forceflush',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  servers.add(server);
  let output = '';
  server.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  server.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  try {
    const deadline = Date.now() + 10_000;
    while (!/Server listening/.test(output)) {
      if (Date.now() > deadline || server.exitCode !== null) {
        throw new Error(`iperf3 server in ${serverNetns} did not start:\n${output}`);
      }
      await sleep(20);
    }
    const out = await run(
      'nsenter',
      [
        `--net=${clientNetns}`,
        '--',
        'iperf3',
        '--client',
        serverAddress,
        '--port',
        String(IPERF_PORT),
        '--time',
        String(SECONDS),
        '--json',
      ],
      { timeoutMs: (SECONDS + 30) * 1000 },
    );
    const result = JSON.parse(out) as {
      error?: string;
      end?: {
        sum_received?: { bits_per_second?: number };
        sum_sent?: { retransmits?: number };
        cpu_utilization_percent?: { host_total?: number; remote_total?: number };
      };
    };
    const bps = result.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') throw new Error(`iperf3 gave no throughput: ${result.error ?? out.slice(0, 500)}`);
    const cpu = result.end?.cpu_utilization_percent;
    return {
      mbps: bps / 1e6,
      retransmits: result.end?.sum_sent?.retransmits,
      senderCpu: cpu?.host_total === undefined ? undefined : round(cpu.host_total, 1),
      receiverCpu: cpu?.remote_total === undefined ? undefined : round(cpu.remote_total, 1),
    };
  } finally {
    await stopServer(server);
  }
}

/**
 * Runs inside a container's network namespace (`node -e`): A queries for one name to one server over UDP, built
 * by hand, timed from just before each send to its reply. A warm-up, then QUERIES one at a time, then QUERIES
 * with INFLIGHT in flight. Prints one JSON object.
 */
const DNS_CLIENT = `
const dgram = require('node:dgram');
const { server, name, count, inflight, warmup } = JSON.parse(process.env.FLT_DNS_BENCH);
const qname = Buffer.concat([
  ...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
  Buffer.from([0]),
]);
const query = (id) => {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // standard query, recursion desired
  header.writeUInt16BE(1, 4); // one question
  return Buffer.concat([header, qname, Buffer.from([0, 1, 0, 1])]); // A, IN
};
const socket = dgram.createSocket('udp4');
const pending = new Map();
socket.on('message', (msg) => {
  if (msg.length < 12) return;
  const p = pending.get(msg.readUInt16BE(0));
  if (!p) return;
  const ms = Number(process.hrtime.bigint() - p.start) / 1e6;
  pending.delete(msg.readUInt16BE(0));
  clearTimeout(p.timer);
  p.resolve({ ms, rcode: msg.readUInt16BE(2) & 15, answers: msg.readUInt16BE(6) });
});
let lastId = 0;
const ask = () =>
  new Promise((resolve) => {
    lastId = (lastId % 65535) + 1;
    const id = lastId;
    const packet = query(id);
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve(null);
    }, 2000);
    pending.set(id, { start: process.hrtime.bigint(), resolve, timer });
    socket.send(packet);
  });
const phase = async (n, width) => {
  const times = [];
  let sent = 0, lost = 0, bad = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (sent < n) {
      sent++;
      const r = await ask();
      if (!r) lost++;
      else {
        if (r.rcode !== 0 || r.answers < 1) bad++;
        times.push(r.ms);
      }
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  times.sort((a, b) => a - b);
  const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)] : null);
  return { queries: n, inflight: width, answered: times.length, lost, bad, p50_ms: pct(50), p90_ms: pct(90),
    p99_ms: pct(99), max_ms: times.length ? times[times.length - 1] : null, qps: times.length / seconds };
};
socket.connect(53, server, async () => {
  await phase(warmup, 1);
  const sequential = await phase(count, 1);
  const concurrent = await phase(count, inflight);
  process.stdout.write(JSON.stringify({ sequential, concurrent }) + '\\n');
  socket.close();
});
`;

interface DnsPhase {
  queries: number;
  inflight: number;
  answered: number;
  lost: number;
  bad: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  qps: number;
}

async function cleanup(): Promise<void> {
  await Promise.all([...servers].map(stopServer));
  await cluster?.close();
}

// An interrupted run still takes the cluster down.
cleanUpOnInterrupt(cleanup);

try {
  cluster = await startBenchCluster(3);
  await deployBenchStack(cluster, STACK, [
    'services:',
    '  box:',
    `    image: ${cluster.images.busybox.tag}`,
    '    command: ["sh", "-c", "while true; do sleep 1; done"]',
    '    deploy:',
    '      mode: global',
  ]);
  let tasks: PsTask[] = [];
  for (let deadline = Date.now() + 60_000; ; await sleep(500)) {
    tasks = await runningTasks(SERVICE);
    if (new Set(tasks.map((t) => t.nodeId)).size === cluster.nodes.length) break;
    if (Date.now() > deadline) throw new Error(`${SERVICE}: ${tasks.length} tasks running, not one per host`);
  }
  const [nodeA, nodeB] = cluster.nodes as [ClusterNode, ClusterNode];
  const taskA = tasks.find((t) => t.nodeId === nodeA.nodeId) as PsTask;
  const taskB = tasks.find((t) => t.nodeId === nodeB.nodeId) as PsTask;
  const [addressA, addressB] = await Promise.all([overlayAddress(taskA), overlayAddress(taskB)]);
  const hostA = nodeA.host;
  const hostB = nodeB.host;
  const [overlayMtu, underlayMtu] = await Promise.all([mtuOf(`flt-${taskA.id}`, 'eth0'), mtuOf(hostA.netns, 'eth0')]);
  log(
    `${SERVICE} runs on every host; client task ${taskA.id.slice(0, 12)} ${addressA} on ${hostA.name} ` +
      `(${hostA.address}), server task ${taskB.id.slice(0, 12)} ${addressB} on ${hostB.name} (${hostB.address}); ` +
      `MTU overlay ${overlayMtu}, underlay ${underlayMtu}`,
  );

  // Throughput: underlay and overlay runs alternate, so drift on the machine touches both alike.
  const overlay: IperfRun[] = [];
  const underlay: IperfRun[] = [];
  const show = (r: IperfRun) =>
    `${round(r.mbps, 1)} Mbit/s (retransmits ${r.retransmits ?? '?'}, CPU sender ${r.senderCpu ?? '?'} %, ` +
    `receiver ${r.receiverCpu ?? '?'} %)`;
  for (let i = 1; i <= RUNS; i++) {
    const u = await iperf(`/run/netns/${hostB.netns}`, hostB.address, `/run/netns/${hostA.netns}`);
    underlay.push(u);
    log(`underlay run ${i}/${RUNS}: ${show(u)}`);
    const o = await iperf(netnsOf(taskB), addressB, netnsOf(taskA));
    overlay.push(o);
    log(`overlay run ${i}/${RUNS}: ${show(o)}`);
  }
  const overlayMbps = round(median(overlay.map((r) => r.mbps)), 1);
  const underlayMbps = round(median(underlay.map((r) => r.mbps)), 1);

  // DNS: the container's resolver is its node's DNS server on the network's gateway.
  const resolvConf = await nodeA.ctr(
    ['task', 'exec', '--exec-id', `bench-${process.pid}-${++execs}`, taskA.id, 'cat', '/etc/resolv.conf'],
    20_000,
  );
  const nameserver = /^nameserver\s+(\d+\.\d+\.\d+\.\d+)/m.exec(resolvConf)?.[1];
  if (!nameserver) throw new Error(`no IPv4 nameserver in the container's resolv.conf:\n${resolvConf}`);
  log(`DNS: ${QUERIES} A queries for ${SERVICE} to ${nameserver} one at a time, then ${INFLIGHT} in flight`);
  const dnsOut = await run('nsenter', [`--net=${netnsOf(taskA)}`, '--', process.execPath, '-e', DNS_CLIENT], {
    timeoutMs: 300_000,
    env: {
      ...process.env,
      FLT_DNS_BENCH: JSON.stringify({
        server: nameserver,
        name: SERVICE,
        count: QUERIES,
        inflight: INFLIGHT,
        warmup: 100,
      }),
    },
  });
  const dns = JSON.parse(dnsOut.trim().split('\n').pop() as string) as { sequential: DnsPhase; concurrent: DnsPhase };
  for (const [what, p] of Object.entries(dns)) {
    log(
      `DNS ${what}: p50 ${p.p50_ms?.toFixed(3)} ms, p90 ${p.p90_ms?.toFixed(3)} ms, p99 ${p.p99_ms?.toFixed(3)} ms, ` +
        `max ${p.max_ms?.toFixed(3)} ms, ${Math.round(p.qps)} queries/s; ${p.lost} unanswered, ${p.bad} not NOERROR with an answer`,
    );
  }
  if (dns.sequential.answered === 0 || dns.sequential.bad > 0 || dns.sequential.p99_ms === null) {
    throw new Error(`the DNS server did not answer ${SERVICE} properly: ${JSON.stringify(dns.sequential)}`);
  }
  const dnsP99 = round(dns.sequential.p99_ms, 3);

  const ratio = round(overlayMbps / underlayMbps, 3);
  const dnsFigures = (p: DnsPhase) => ({
    ...p,
    p50_ms: round(p.p50_ms ?? Number.NaN, 3),
    p90_ms: round(p.p90_ms ?? Number.NaN, 3),
    p99_ms: round(p.p99_ms ?? Number.NaN, 3),
    max_ms: round(p.max_ms ?? Number.NaN, 3),
    qps: Math.round(p.qps),
  });
  console.log(
    JSON.stringify({
      bench: 'network',
      details: {
        seconds: SECONDS,
        runs: RUNS,
        overlay_mtu: overlayMtu,
        underlay_mtu: underlayMtu,
        overlay_runs: overlay.map((r) => ({ ...r, mbps: round(r.mbps, 1) })),
        underlay_runs: underlay.map((r) => ({ ...r, mbps: round(r.mbps, 1) })),
        dns_server: nameserver,
        dns_name: SERVICE,
        dns_sequential: dnsFigures(dns.sequential),
        dns_concurrent: dnsFigures(dns.concurrent),
      },
    }),
  );
  console.log(
    JSON.stringify({
      bench: 'network',
      overlay_mbps: overlayMbps,
      underlay_mbps: underlayMbps,
      ratio,
      dns_p99_ms: dnsP99,
    }),
  );
} finally {
  await cleanup();
}
