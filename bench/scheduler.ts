// Place 10,000 tasks on 1,000 nodes, then 100,000 tasks on 5,000 nodes, in process: 100 replicas per service,
// with a realistic mix of reservations, constraints, zone spread preferences, host ports and per-node limits,
// on a cluster that already runs 2 tasks per node. Only placeTasks() is timed. Prints one JSON line last.
// Run: npm run bench -- scheduler
import {
  Constraint_Operator,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Task,
  TaskState,
} from '@flotilla/api';
import { type PlacementInput, placeTasks } from '@flotilla/scheduler';

const SIZES = [
  { tasks: 10_000, nodes: 1_000 },
  { tasks: 100_000, nodes: 5_000 },
];
const REPLICAS = 100;
const REPEATS = 3;
const GiB = 1024n ** 3n;
const MiB = 1024n ** 2n;
const CPU = 1_000_000_000n;

/** A small seeded generator, so every run places the same cluster. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function cluster(nodeCount: number, rand: () => number): Node[] {
  return Array.from({ length: nodeCount }, (_, i) => {
    const roll = rand();
    return Node.fromPartial({
      id: `node-${i.toString(36).padStart(4, '0')}`,
      description: {
        hostname: `host-${i}`,
        os: 'linux',
        architecture: rand() < 0.9 ? 'x86_64' : 'aarch64',
        nanoCpus: pick(rand, [4n, 8n, 16n]) * CPU,
        memoryBytes: pick(rand, [16n, 32n, 64n]) * GiB,
        engineLabels: { storage: rand() < 0.5 ? 'ssd' : 'hdd' },
      },
      spec: {
        role: i < 3 ? NodeSpec_Role.ROLE_MANAGER : NodeSpec_Role.ROLE_WORKER,
        // About 1 % drained and 1 % down, as in a cluster under maintenance.
        availability:
          roll < 0.01 ? NodeSpec_Availability.AVAILABILITY_DRAIN : NodeSpec_Availability.AVAILABILITY_ACTIVE,
        labels: { zone: `zone-${i % 3}`, tier: i % 4 === 0 ? 'frontend' : 'backend' },
      },
      status: { state: roll > 0.99 ? NodeStatus_State.STATE_DOWN : NodeStatus_State.STATE_READY },
    });
  });
}

const CONSTRAINTS = [
  { field: 'node.role', operator: Constraint_Operator.OPERATOR_EQ, value: 'worker' },
  { field: 'node.labels.tier', operator: Constraint_Operator.OPERATOR_EQ, value: 'backend' },
  { field: 'node.labels.zone', operator: Constraint_Operator.OPERATOR_NEQ, value: 'zone-2' },
  { field: 'engine.labels.storage', operator: Constraint_Operator.OPERATOR_EQ, value: 'ssd' },
];

/** One service's tasks: 60 % reserve resources, 30 % have a constraint, 30 % spread over zones, 5 % host ports. */
function service(index: number, replicas: number, rand: () => number, running?: (slot: number) => string): Task[] {
  const reserves = rand() < 0.6;
  const constrained = rand() < 0.3;
  const spread = rand() < 0.3;
  const hostPort = rand() < 0.05;
  const limited = rand() < 0.1;
  const nanoCpus = reserves ? BigInt(Math.round(50 + rand() * 200)) * (CPU / 1000n) : 0n;
  const memoryBytes = reserves ? BigInt(Math.round(64 + rand() * 448)) * MiB : 0n;
  const placement = {
    constraints: constrained ? [pick(rand, CONSTRAINTS)] : [],
    spread: spread ? ['node.labels.zone'] : [],
    maxReplicasPerNode: limited ? BigInt(1 + Math.floor(rand() * 2)) : 0n,
    platforms: [{ os: 'linux', architecture: '' }],
  };
  const serviceId = `svc-${index}`;
  return Array.from({ length: replicas }, (_, i) =>
    Task.fromPartial({
      id: `${serviceId}.${i + 1}`,
      serviceId,
      serviceName: `stack_${serviceId}`,
      slot: BigInt(i + 1),
      nodeId: running?.(i) ?? '',
      desiredState: TaskState.TASK_STATE_RUNNING,
      status: { state: running ? TaskState.TASK_STATE_RUNNING : TaskState.TASK_STATE_PENDING },
      specVersion: 1n,
      resources: { reservations: { nanoCpus, memoryBytes } },
      placement,
      hostPorts: hostPort
        ? [
            {
              protocol: PortConfig_Protocol.PROTOCOL_TCP,
              targetPort: 8080,
              publishedPort: 30_000 + index,
              publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST,
            },
          ]
        : [],
    }),
  );
}

function input(tasks: number, nodeCount: number, seed: number): PlacementInput {
  const rand = random(seed);
  const nodes = cluster(nodeCount, rand);
  // Two running tasks per node, from services already deployed (placed round-robin, not by the scheduler).
  const running = Array.from({ length: 20 }, (_, s) =>
    service(10_000 + s, (nodeCount * 2) / 20, rand, (slot) => (nodes[(slot * 20 + s) % nodeCount] as Node).id),
  ).flat();
  const pending = Array.from({ length: tasks / REPLICAS }, (_, s) => service(s, REPLICAS, rand)).flat();
  return { nodes, running, pending, strategy: 'spread', seed: 1 };
}

function measure(data: PlacementInput): { ms: number; unplaced: number } {
  const started = performance.now();
  const result = placeTasks(data);
  const ms = performance.now() - started;
  if (result.assigned.length + result.unplaced.length !== data.pending.length) throw new Error('tasks went missing');
  return { ms, unplaced: result.unplaced.length };
}

// Warm the JIT on a small cluster first: the manager is a long-running process.
measure(input(2_000, 200, 99));

const runs = SIZES.map(({ tasks, nodes }) => {
  const data = input(tasks, nodes, tasks);
  const samples = Array.from({ length: REPEATS }, () => measure(data)).sort((a, b) => a.ms - b.ms);
  const median = samples[Math.floor(samples.length / 2)] as { ms: number; unplaced: number };
  const perSecond = Math.round((tasks / median.ms) * 1000);
  const all = samples.map((s) => s.ms.toFixed(0)).join(', ');
  console.log(
    `${tasks} tasks on ${nodes} nodes: median ${median.ms.toFixed(1)} ms (${all}), ${perSecond} placements/s, ` +
      `${median.unplaced} unplaced`,
  );
  return { tasks, nodes, placements_per_s: perSecond };
});

console.log(JSON.stringify({ bench: 'scheduler', runs }));
