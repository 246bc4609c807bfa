import { NodeSpec_Availability, NodeStatus_State } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { CPU, countsOf, GiB, node, nodesOf, replicas, task } from '../test/fixtures.js';
import { placeTasks } from './place-tasks.js';

const three = () => [node('n1'), node('n2'), node('n3')];

describe('spread', () => {
  it('puts 3 replicas on 3 nodes, one each', () => {
    const result = placeTasks({ nodes: three(), running: [], pending: replicas('web', 3) });
    expect(result.unplaced).toEqual([]);
    expect(countsOf(result)).toEqual({ n1: 1, n2: 1, n3: 1 });
  });

  it('evens out a service over nodes that already run some of it', () => {
    const running = [task('old.1', { service: 'web', nodeId: 'n1' }), task('old.2', { service: 'web', nodeId: 'n1' })];
    const result = placeTasks({ nodes: three(), running, pending: replicas('web', 4) });
    expect(countsOf(result)).toEqual({ n2: 2, n3: 2 });
  });

  it('spreads the service before balancing load: a busy node without the service wins', () => {
    const running = [
      task('web.1', { service: 'web', nodeId: 'n1' }),
      task('db.1', { service: 'db', nodeId: 'n2' }),
      task('db.2', { service: 'db', nodeId: 'n2' }),
      task('db.3', { service: 'db', nodeId: 'n2' }),
    ];
    const result = placeTasks({
      nodes: [node('n1'), node('n2')],
      running,
      pending: [task('web.2', { service: 'web' })],
    });
    expect(countsOf(result)).toEqual({ n2: 1 });
  });

  it('prefers the least loaded node among those with as few tasks of the service', () => {
    const running = [
      task('db.1', { service: 'db', nodeId: 'n1' }),
      task('db.2', { service: 'db', nodeId: 'n2' }),
      task('cache.1', { service: 'cache', nodeId: 'n1' }),
    ];
    const result = placeTasks({ nodes: three(), running, pending: replicas('web', 2) });
    expect(countsOf(result)).toEqual({ n2: 1, n3: 1 });
  });
});

describe('node availability', () => {
  it('skips paused, drained, down and disconnected nodes', () => {
    const nodes = [
      node('ok'),
      node('p', { availability: NodeSpec_Availability.AVAILABILITY_PAUSE }),
      node('d', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
      node('x', { state: NodeStatus_State.STATE_DOWN }),
      node('y', { state: NodeStatus_State.STATE_DISCONNECTED }),
    ];
    const result = placeTasks({ nodes, running: [], pending: replicas('web', 4) });
    expect(countsOf(result)).toEqual({ ok: 4 });
  });

  it('explains that no node is available', () => {
    const nodes = [
      node('p', { availability: NodeSpec_Availability.AVAILABILITY_PAUSE }),
      node('d', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
      node('x', { state: NodeStatus_State.STATE_DOWN }),
      node('y', { state: NodeStatus_State.STATE_UNKNOWN }),
    ];
    const result = placeTasks({ nodes, running: [], pending: replicas('web', 1) });
    expect(result.assigned).toEqual([]);
    expect(result.unplaced).toEqual([
      { taskId: 'web.1', message: 'no suitable node (2 nodes not ready; 1 node drained; 1 node paused)' },
    ]);
  });

  it('says so when the cluster has no node', () => {
    const result = placeTasks({ nodes: [], running: [], pending: replicas('web', 2) });
    expect(result.unplaced.map((u) => u.message)).toEqual([
      'no suitable node (no nodes in the cluster)',
      'no suitable node (no nodes in the cluster)',
    ]);
  });
});

describe('resources', () => {
  it('fits reservations into what is left and explains the tasks that do not fit', () => {
    const result = placeTasks({
      nodes: [node('n1'), node('n2')],
      running: [],
      pending: replicas('web', 5, { cpus: (3n * CPU) / 2n }),
    });
    expect(countsOf(result)).toEqual({ n1: 2, n2: 2 });
    expect(result.unplaced).toEqual([{ taskId: 'web.5', message: 'no suitable node (insufficient cpu on 2 nodes)' }]);
  });

  it('counts what running tasks reserve', () => {
    const running = [task('db.1', { service: 'db', nodeId: 'n1', memory: 7n * GiB })];
    const result = placeTasks({
      nodes: [node('n1'), node('n2')],
      running,
      pending: replicas('web', 2, { memory: 4n * GiB }),
    });
    expect(countsOf(result)).toEqual({ n2: 2 });
  });

  it('fits no reserving task on a node that reports no capacity, and any other task', () => {
    const nodes = [node('n1', { memory: 0n, cpus: 0n })];
    expect(placeTasks({ nodes, running: [], pending: replicas('a', 1, { memory: 1n }) }).unplaced[0]?.message).toBe(
      'no suitable node (insufficient memory on 1 node)',
    );
    expect(placeTasks({ nodes, running: [], pending: replicas('a', 1, { cpus: 1n }) }).unplaced[0]?.message).toBe(
      'no suitable node (insufficient cpu on 1 node)',
    );
    expect(countsOf(placeTasks({ nodes, running: [], pending: replicas('a', 3) }))).toEqual({ n1: 3 });
  });

  it('counts each node once, at the first filter it fails, in the Swarm message format', () => {
    const nodes = [
      node('m1', { labels: { zone: 'b' }, memory: 2n * GiB }),
      node('m2', { labels: { zone: 'b' }, memory: 2n * GiB }),
      node('m3', { labels: { zone: 'b' }, memory: 2n * GiB }),
      node('z1', { labels: { zone: 'a' } }),
      node('z2', { labels: { zone: 'a' }, memory: 1n }),
      node('d1', { labels: { zone: 'b' }, state: NodeStatus_State.STATE_DOWN }),
    ];
    const result = placeTasks({
      nodes,
      running: [],
      pending: replicas('web', 2, { memory: 4n * GiB, constraints: ['node.labels.zone==b'] }),
    });
    const message =
      'no suitable node (insufficient memory on 3 nodes; constraint node.labels.zone==b on 2 nodes; 1 node not ready)';
    expect(result.unplaced).toEqual([
      { taskId: 'web.1', message },
      { taskId: 'web.2', message },
    ]);
  });
});

describe('host ports', () => {
  it('puts at most one task publishing a port on each node', () => {
    const result = placeTasks({
      nodes: [node('n1'), node('n2')],
      running: [],
      pending: replicas('lb', 3, { hostPorts: ['8080'] }),
    });
    expect(countsOf(result)).toEqual({ n1: 1, n2: 1 });
    expect(result.unplaced).toEqual([
      { taskId: 'lb.3', message: 'no suitable node (host port 8080/tcp in use on 2 nodes)' },
    ]);
  });

  it('avoids ports running tasks hold, and tells tcp from udp', () => {
    const running = [task('dns.1', { service: 'dns', nodeId: 'n1', hostPorts: ['53/udp'] })];
    const nodes = [node('n1'), node('n2')];
    const udp = placeTasks({ nodes, running, pending: replicas('other', 1, { hostPorts: ['53/udp'] }) });
    expect(nodesOf(udp).get('other.1')).toBe('n2');
    const tcp = placeTasks({ nodes, running, pending: replicas('other', 2, { hostPorts: ['53/tcp'] }) });
    expect(countsOf(tcp)).toEqual({ n1: 1, n2: 1 });
  });

  it('finds the few free nodes when the nodes it prefers all hold the port', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => node(`n${String(i).padStart(2, '0')}`));
    const running = nodes.slice(2).map((n, i) => task(`web.${i}`, { service: 'web', nodeId: n.id, hostPorts: ['80'] }));
    // Binpack prefers the busy nodes, which all fail: the search must go on to the idle ones.
    const result = placeTasks({
      nodes,
      running,
      pending: replicas('lb', 3, { hostPorts: ['80'] }),
      strategy: 'binpack',
    });
    expect(countsOf(result)).toEqual({ n00: 1, n01: 1 });
    expect(result.unplaced.map((u) => u.message)).toEqual(['no suitable node (host port 80/tcp in use on 20 nodes)']);
  });

  it('never conflicts on a port published as 0', () => {
    const result = placeTasks({ nodes: [node('n1')], running: [], pending: replicas('lb', 3, { hostPorts: ['0'] }) });
    expect(countsOf(result)).toEqual({ n1: 3 });
  });
});

describe('max_replicas_per_node', () => {
  it('caps tasks of a service per node, counting running ones', () => {
    const running = [task('web.0', { service: 'web', nodeId: 'n1' })];
    const result = placeTasks({
      nodes: [node('n1'), node('n2')],
      running,
      pending: replicas('web', 4, { maxReplicasPerNode: 2 }),
    });
    expect(countsOf(result)).toEqual({ n1: 1, n2: 2 });
    expect(result.unplaced.map((u) => u.taskId)).toEqual(['web.4']);
    expect(result.unplaced[0]?.message).toBe('no suitable node (max replicas per node (2) reached on 2 nodes)');
  });

  it('does not count other services', () => {
    const running = [task('db.1', { service: 'db', nodeId: 'n1' }), task('db.2', { service: 'db', nodeId: 'n1' })];
    const result = placeTasks({ nodes: [node('n1')], running, pending: replicas('web', 1, { maxReplicasPerNode: 1 }) });
    expect(countsOf(result)).toEqual({ n1: 1 });
  });
});

describe('spread preferences', () => {
  it('balances zones, not nodes: 3 nodes in a and 1 in b take 2 tasks per zone', () => {
    const nodes = [
      node('a1', { labels: { zone: 'a' } }),
      node('a2', { labels: { zone: 'a' } }),
      node('a3', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
    ];
    const result = placeTasks({ nodes, running: [], pending: replicas('web', 4, { spread: ['node.labels.zone'] }) });
    const counts = countsOf(result);
    expect(counts.b1).toBe(2);
    expect((counts.a1 ?? 0) + (counts.a2 ?? 0) + (counts.a3 ?? 0)).toBe(2);
    expect(Math.max(counts.a1 ?? 0, counts.a2 ?? 0, counts.a3 ?? 0)).toBe(1);
  });

  it('gives nodes without the label a group of their own', () => {
    const nodes = [node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' } }), node('u1'), node('u2')];
    const result = placeTasks({ nodes, running: [], pending: replicas('web', 6, { spread: ['node.labels.zone'] }) });
    const counts = countsOf(result);
    expect(counts.a).toBe(2);
    expect(counts.b).toBe(2);
    expect((counts.u1 ?? 0) + (counts.u2 ?? 0)).toBe(2);
  });

  it('counts running tasks of the service per zone', () => {
    const nodes = [node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } })];
    const running = [task('web.1', { service: 'web', nodeId: 'a1' }), task('web.2', { service: 'web', nodeId: 'a1' })];
    const result = placeTasks({
      nodes,
      running,
      pending: replicas('web', 3, { spread: ['node.labels.zone'] }).slice(2),
    });
    expect(countsOf(result)).toEqual({ b1: 1 });
    const more = placeTasks({
      nodes,
      running,
      pending: [task('web.9', { service: 'web', spread: ['node.labels.zone'] })],
    });
    expect(nodesOf(more).get('web.9')).toBe('b1');
  });

  it('applies preferences in order: zone first, then rack within the zone', () => {
    const nodes = [
      node('a-r1-1', { labels: { zone: 'a', rack: 'r1' } }),
      node('a-r1-2', { labels: { zone: 'a', rack: 'r1' } }),
      node('a-r2-1', { labels: { zone: 'a', rack: 'r2' } }),
      node('b-r3-1', { labels: { zone: 'b', rack: 'r3' } }),
    ];
    const result = placeTasks({
      nodes,
      running: [],
      pending: replicas('web', 4, { spread: ['node.labels.zone', 'node.labels.rack'] }),
    });
    const counts = countsOf(result);
    expect(counts['b-r3-1']).toBe(2);
    expect(counts['a-r2-1']).toBe(1);
    expect((counts['a-r1-1'] ?? 0) + (counts['a-r1-2'] ?? 0)).toBe(1);
  });

  it('moves on to another zone when a zone is full', () => {
    const nodes = [node('a1', { labels: { zone: 'a' }, memory: 2n * GiB }), node('b1', { labels: { zone: 'b' } })];
    const result = placeTasks({
      nodes,
      running: [],
      pending: replicas('web', 4, { spread: ['node.labels.zone'], memory: 2n * GiB }),
    });
    expect(countsOf(result)).toEqual({ a1: 1, b1: 3 });
  });
});

describe('binpack', () => {
  it('fills one node before the next', () => {
    const result = placeTasks({
      nodes: three(),
      running: [],
      pending: replicas('web', 6, { cpus: CPU }),
      strategy: 'binpack',
    });
    expect(Object.values(countsOf(result)).sort()).toEqual([2, 4]);
  });

  it('starts with the node that is already the fullest', () => {
    const running = [task('db.1', { service: 'db', nodeId: 'n2', cpus: CPU })];
    const result = placeTasks({
      nodes: three(),
      running,
      pending: replicas('web', 3, { cpus: CPU }),
      strategy: 'binpack',
    });
    expect(countsOf(result)).toEqual({ n2: 3 });
  });

  it('packs tasks without reservations onto the node with most tasks', () => {
    const running = [task('db.1', { service: 'db', nodeId: 'n3' })];
    const result = placeTasks({ nodes: three(), running, pending: replicas('web', 5), strategy: 'binpack' });
    expect(countsOf(result)).toEqual({ n3: 5 });
  });
});

describe('pinned tasks', () => {
  const global = (nodeId: string, o: Parameters<typeof task>[1] = {}) =>
    task(`agent.${nodeId}`, { service: 'agent', nodeId, ...o });

  it('places each on its own node only', () => {
    const result = placeTasks({ nodes: three(), running: [], pending: [global('n1'), global('n3')] });
    expect(result.assigned).toEqual([
      { taskId: 'agent.n1', nodeId: 'n1' },
      { taskId: 'agent.n3', nodeId: 'n3' },
    ]);
  });

  it('names the reason on its node', () => {
    const nodes = [node('n1', { memory: GiB }), node('n2', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN })];
    const result = placeTasks({
      nodes,
      running: [],
      pending: ['n1', 'n2', 'gone'].map((id) => global(id, { memory: 2n * GiB })),
    });
    expect(result.assigned).toEqual([]);
    expect(result.unplaced).toEqual([
      { taskId: 'agent.gone', message: 'no suitable node (node gone is not in the cluster)' },
      { taskId: 'agent.n1', message: 'no suitable node (node n1: insufficient memory)' },
      { taskId: 'agent.n2', message: 'no suitable node (node n2: drained)' },
    ]);
  });

  it('goes before free tasks, which can use other nodes', () => {
    const nodes = [node('n1', { memory: 4n * GiB }), node('n2', { memory: GiB })];
    const result = placeTasks({
      nodes,
      running: [],
      pending: [task('api.1', { service: 'api', memory: 3n * GiB }), global('n1', { memory: 3n * GiB })],
    });
    expect(result.assigned).toEqual([{ taskId: 'agent.n1', nodeId: 'n1' }]);
    expect(result.unplaced).toEqual([
      { taskId: 'api.1', message: 'no suitable node (insufficient memory on 2 nodes)' },
    ]);
  });

  it('checks constraints and host ports on its node', () => {
    const running = [task('x.1', { service: 'x', nodeId: 'n2', hostPorts: ['9100'] })];
    const nodes = [node('n1', { labels: { zone: 'x' } }), node('n2'), node('n3')];
    const spec = { constraints: ['node.labels.zone!=x'], hostPorts: ['9100'] };
    const result = placeTasks({ nodes, running, pending: ['n1', 'n2', 'n3'].map((id) => global(id, spec)) });
    expect(result.assigned).toEqual([{ taskId: 'agent.n3', nodeId: 'n3' }]);
    expect(result.unplaced.map((u) => u.message)).toEqual([
      'no suitable node (node n1: constraint node.labels.zone!=x not satisfied)',
      'no suitable node (node n2: host port 9100/tcp in use)',
    ]);
  });
});

describe('determinism', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`));

  it('gives the same result for the same input and seed, whatever the input order', () => {
    const pending = [...replicas('web', 7, { cpus: CPU }), ...replicas('api', 5, { spread: ['node.labels.zone'] })];
    const running = [task('db.1', { service: 'db', nodeId: 'n4' }), task('db.2', { service: 'db', nodeId: 'n7' })];
    const first = placeTasks({ nodes, running, pending, seed: 42 });
    const shuffled = placeTasks({
      nodes: [...nodes].reverse(),
      running: [...running].reverse(),
      pending: [...pending].reverse(),
      seed: 42,
    });
    expect(shuffled).toEqual(first);
    expect(first.assigned).toHaveLength(12);
  });

  it('breaks ties by the seed', () => {
    const chosen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const result = placeTasks({ nodes, running: [], pending: replicas('web', 1), seed });
      chosen.add(result.assigned[0]?.nodeId ?? '');
    }
    expect(chosen.size).toBeGreaterThan(3);
  });

  it('places groups in (service, spec version) order and tasks in slot order', () => {
    const pending = [
      task('b.2', { service: 'b', slot: 2 }),
      task('a.1', { service: 'a', slot: 1, specVersion: 2n }),
      task('b.1', { service: 'b', slot: 1 }),
      task('a.9', { service: 'a', slot: 9, specVersion: 1n }),
    ];
    const result = placeTasks({ nodes, running: [], pending });
    expect(result.assigned.map((a) => a.taskId)).toEqual(['a.9', 'a.1', 'b.1', 'b.2']);
  });

  it('places a task id given twice once', () => {
    const result = placeTasks({ nodes, running: [], pending: [task('t', { slot: 1 }), task('t', { slot: 1 })] });
    expect(result.assigned).toHaveLength(1);
  });
});

describe('sidecars', () => {
  it("go to their main task's node or nowhere, and say why when that node does not fit", () => {
    const nodes = [node('n1', { labels: { edge: 'yes' } }), node('n2')];
    const fits = { ...task('proxy.1', { service: 'proxy', nodeId: 'n1', constraints: ['node.labels.edge==yes'] }) };
    const misfit = { ...task('proxy.2', { service: 'proxy', nodeId: 'n2', constraints: ['node.labels.edge==yes'] }) };
    // Pinned to the nodes of main tasks web.1 and web.2.
    fits.mainTaskId = 'web.1';
    misfit.mainTaskId = 'web.2';
    const result = placeTasks({ nodes, running: [], pending: [fits, misfit] });
    expect(result.assigned).toEqual([{ taskId: 'proxy.1', nodeId: 'n1' }]);
    expect(result.unplaced).toEqual([
      {
        taskId: 'proxy.2',
        message: expect.stringMatching(
          /^no suitable node \(node n2 of its main task web\.2: .*edge.*a sidecar runs only beside its main task/,
        ),
      },
    ]);
  });
});
