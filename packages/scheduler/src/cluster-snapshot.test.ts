import { NodeSpec_Availability, type Task } from '@flotilla/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CPU, countsOf, GiB, node, replicas, task } from '../test/fixtures.js';
import { ClusterSnapshot } from './cluster-snapshot.js';
import { placeTasks } from './place-tasks.js';
import type { PlacementInput } from './types.js';

describe('ClusterSnapshot', () => {
  it('records its own assignments, so the next batch sees them', () => {
    const snapshot = new ClusterSnapshot([node('n1'), node('n2')]);
    const first = snapshot.place(replicas('web', 1));
    const second = snapshot.place([task('web.2', { service: 'web', slot: 2 })]);
    expect(first.assigned[0]?.nodeId).not.toBe(second.assigned[0]?.nodeId);
    expect(snapshot.taskCount).toBe(2);
  });

  it('treats addTask of an assigned task as the same task, and removeTask as freeing it', () => {
    const snapshot = new ClusterSnapshot([node('n1', { memory: 4n * GiB })]);
    const [pending] = replicas('db', 1, { memory: 3n * GiB });
    const placed = snapshot.place([pending as Task]);
    expect(placed.assigned).toEqual([{ taskId: 'db.1', nodeId: 'n1' }]);
    // The store echoes the assignment back: counted once, not twice.
    snapshot.addTask({ ...(pending as Task), nodeId: 'n1' });
    expect(snapshot.taskCount).toBe(1);
    expect(snapshot.place([task('x.1', { service: 'x', memory: 2n * GiB })]).unplaced).toHaveLength(1);
    snapshot.removeTask('db.1');
    expect(snapshot.place([task('x.2', { service: 'x', memory: 2n * GiB })]).assigned).toHaveLength(1);
  });

  it('sees node changes: a drained node takes nothing, a removed one is gone, a new one is used', () => {
    const snapshot = new ClusterSnapshot([node('n1'), node('n2')]);
    // Warm the static cache for this signature first, so the test also shows it is invalidated.
    expect(countsOf(snapshot.place(replicas('a', 2)))).toEqual({ n1: 1, n2: 1 });
    snapshot.upsertNode(node('n1', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }));
    expect(countsOf(snapshot.place(replicas('b', 2)))).toEqual({ n2: 2 });
    snapshot.removeNode('n2');
    expect(snapshot.nodeCount).toBe(1);
    expect(snapshot.place(replicas('c', 1)).unplaced[0]?.message).toBe('no suitable node (1 node drained)');
    snapshot.upsertNode(node('n3'));
    expect(countsOf(snapshot.place(replicas('d', 1)))).toEqual({ n3: 1 });
  });

  it('keeps counting tasks of a removed node if it comes back', () => {
    const snapshot = new ClusterSnapshot([node('n1', { memory: 4n * GiB })]);
    snapshot.addTask(task('db.1', { service: 'db', nodeId: 'n1', memory: 3n * GiB }));
    snapshot.removeNode('n1');
    snapshot.upsertNode(node('n1', { memory: 4n * GiB }));
    expect(snapshot.place([task('x.1', { service: 'x', memory: 2n * GiB })]).unplaced).toHaveLength(1);
  });

  it('moves a task when addTask gives it another node', () => {
    const snapshot = new ClusterSnapshot([node('n1', { memory: 4n * GiB }), node('n2', { memory: 4n * GiB })]);
    snapshot.addTask(task('db.1', { service: 'db', nodeId: 'n1', memory: 3n * GiB }));
    snapshot.addTask(task('db.1', { service: 'db', nodeId: 'n2', memory: 3n * GiB }));
    const result = snapshot.place([task('x.1', { service: 'x', memory: 2n * GiB })]);
    expect(result.assigned).toEqual([{ taskId: 'x.1', nodeId: 'n1' }]);
  });

  it('decides as placeTasks does after the same changes made one by one', () => {
    const nodes = Array.from({ length: 12 }, (_, i) => node(`n${i}`, { labels: { zone: `z${i % 3}` } }));
    const running = Array.from({ length: 20 }, (_, i) =>
      task(`r${i}`, { service: `s${i % 4}`, nodeId: `n${(i * 7) % 12}`, cpus: CPU / 2n }),
    );
    const pending = [
      ...replicas('s1', 10, { cpus: CPU, spread: ['node.labels.zone'] }),
      ...replicas('s5', 6, { maxReplicasPerNode: 1, hostPorts: ['80'] }),
    ];
    const snapshot = new ClusterSnapshot();
    for (const n of nodes) snapshot.upsertNode(n);
    snapshot.addTask(task('gone', { service: 's1', nodeId: 'n3', cpus: 3n * CPU }));
    for (const t of running) snapshot.addTask(t);
    snapshot.removeTask('gone');
    expect(snapshot.place(pending, { seed: 7 })).toEqual(placeTasks({ nodes, running, pending, seed: 7 }));
  });
});

type Generated<A> = A extends fc.Arbitrary<infer T> ? T : never;

/** Random clusters and batches: what placement decides must respect every rule, whatever it chooses. */
describe('placement invariants', () => {
  const zones = ['a', 'b', 'c'];
  const nodeArb = fc.record({
    zone: fc.option(fc.constantFrom(...zones), { nil: undefined }),
    availability: fc.constantFrom(
      NodeSpec_Availability.AVAILABILITY_ACTIVE,
      NodeSpec_Availability.AVAILABILITY_ACTIVE,
      NodeSpec_Availability.AVAILABILITY_DRAIN,
    ),
    cpus: fc.integer({ min: 0, max: 8 }),
    memoryGiB: fc.integer({ min: 0, max: 16 }),
  });
  const serviceArb = fc.record({
    replicas: fc.integer({ min: 1, max: 12 }),
    cpuTenths: fc.integer({ min: 0, max: 30 }),
    memoryGiB: fc.integer({ min: 0, max: 6 }),
    port: fc.option(fc.constantFrom(80, 443), { nil: undefined }),
    maxPerNode: fc.integer({ min: 0, max: 3 }),
    zone: fc.option(fc.constantFrom(...zones), { nil: undefined }),
    spread: fc.boolean(),
  });

  function build(nodeSpecs: Generated<typeof nodeArb>[], services: Generated<typeof serviceArb>[]) {
    const nodes = nodeSpecs.map((n, i) =>
      node(`n${i}`, {
        labels: n.zone ? { zone: n.zone } : {},
        availability: n.availability,
        cpus: BigInt(n.cpus) * CPU,
        memory: BigInt(n.memoryGiB) * GiB,
      }),
    );
    const pending = services.flatMap((s, i) =>
      replicas(`s${i}`, s.replicas, {
        cpus: (BigInt(s.cpuTenths) * CPU) / 10n,
        memory: BigInt(s.memoryGiB) * GiB,
        hostPorts: s.port ? [String(s.port)] : [],
        maxReplicasPerNode: s.maxPerNode,
        constraints: s.zone ? [`node.labels.zone!=${s.zone}`] : [],
        spread: s.spread ? ['node.labels.zone'] : [],
      }),
    );
    return { nodes, running: [], pending } satisfies PlacementInput;
  }

  it('never overcommits a node, shares a port, exceeds max replicas or breaks a constraint', () => {
    fc.assert(
      fc.property(
        fc.array(nodeArb, { maxLength: 10 }),
        fc.array(serviceArb, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.constantFrom('spread' as const, 'binpack' as const),
        (nodeSpecs, services, seed, strategy) => {
          const input = build(nodeSpecs, services);
          const result = placeTasks({ ...input, seed, strategy });
          const byId = new Map(input.pending.map((t) => [t.id, t]));
          const nodeById = new Map(input.nodes.map((n) => [n.id, n]));
          const outcome = [...result.assigned.map((a) => a.taskId), ...result.unplaced.map((u) => u.taskId)];
          expect(outcome.sort()).toEqual([...byId.keys()].sort());

          const used = new Map<
            string,
            { cpu: bigint; memory: bigint; ports: Set<number>; perService: Map<string, number> }
          >();
          for (const { taskId, nodeId } of result.assigned) {
            const t = byId.get(taskId) as Task;
            const n = nodeById.get(nodeId);
            expect(n?.spec?.availability).toBe(NodeSpec_Availability.AVAILABILITY_ACTIVE);
            for (const c of t.placement?.constraints ?? []) expect(n?.spec?.labels.zone).not.toBe(c.value);
            const u = used.get(nodeId) ?? { cpu: 0n, memory: 0n, ports: new Set(), perService: new Map() };
            used.set(nodeId, u);
            u.cpu += t.resources?.reservations?.nanoCpus ?? 0n;
            u.memory += t.resources?.reservations?.memoryBytes ?? 0n;
            expect(u.cpu).toBeLessThanOrEqual(n?.description?.nanoCpus ?? 0n);
            expect(u.memory).toBeLessThanOrEqual(n?.description?.memoryBytes ?? 0n);
            for (const p of t.hostPorts) {
              expect(u.ports.has(p.publishedPort)).toBe(false);
              u.ports.add(p.publishedPort);
            }
            const count = (u.perService.get(t.serviceId) ?? 0) + 1;
            u.perService.set(t.serviceId, count);
            const max = Number(t.placement?.maxReplicasPerNode ?? 0n);
            if (max > 0) expect(count).toBeLessThanOrEqual(max);
          }
          for (const u of result.unplaced) expect(u.message).toMatch(/^no suitable node \(.+\)$/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('spreads a service with no limits evenly: counts per node differ by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 60 }), fc.nat(), (nodeCount, n, seed) => {
        const nodes = Array.from({ length: nodeCount }, (_, i) => node(`n${i}`));
        const counts = Object.values(countsOf(placeTasks({ nodes, running: [], pending: replicas('web', n), seed })));
        const full = counts.length === nodeCount ? counts : [...counts, 0];
        expect(Math.max(...full) - Math.min(...full)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 100 },
    );
  });
});
