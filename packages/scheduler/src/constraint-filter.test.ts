import { NodeSpec_Role } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { node, replicas } from '../test/fixtures.js';
import { placeTasks } from './place-tasks.js';

/** Three nodes that differ in every attribute a constraint can name. */
const NODES = [
  node('n1', {
    hostname: 'alpha',
    role: NodeSpec_Role.ROLE_MANAGER,
    os: 'linux',
    arch: 'x86_64',
    labels: { zone: 'a', disk: 'ssd' },
    engineLabels: { os: 'ubuntu' },
  }),
  node('n2', { hostname: 'beta', os: 'linux', arch: 'aarch64', labels: { zone: 'b' }, engineLabels: { os: 'debian' } }),
  node('n3', { hostname: 'gamma', os: 'windows', arch: 'x86_64' }),
];

/** The nodes a service with these constraints may use: one replica per node at most, as many replicas as nodes. */
function eligible(...constraints: string[]): string[] {
  const result = placeTasks({
    nodes: NODES,
    running: [],
    pending: replicas('web', NODES.length, { constraints, maxReplicasPerNode: 1 }),
  });
  return result.assigned.map((a) => a.nodeId).sort();
}

describe('constraints', () => {
  it.each([
    ['node.id==n2', ['n2']],
    ['node.id!=n2', ['n1', 'n3']],
    ['node.hostname==beta', ['n2']],
    ['node.hostname!=beta', ['n1', 'n3']],
    ['node.role==manager', ['n1']],
    ['node.role!=manager', ['n2', 'n3']],
    ['node.role==worker', ['n2', 'n3']],
    ['node.platform.os==windows', ['n3']],
    ['node.platform.os!=windows', ['n1', 'n2']],
    ['node.platform.arch==aarch64', ['n2']],
    ['node.platform.arch!=x86_64', ['n2']],
    ['node.labels.zone==a', ['n1']],
    ['node.labels.zone!=a', ['n2', 'n3']],
    ['node.labels.disk==ssd', ['n1']],
    ['engine.labels.os==ubuntu', ['n1']],
    ['engine.labels.os!=ubuntu', ['n2', 'n3']],
  ])('%s selects %j', (constraint, expected) => {
    expect(eligible(constraint)).toEqual(expected);
  });

  it('treats a missing label as empty: == fails and != passes', () => {
    expect(eligible('node.labels.zone==b')).toEqual(['n2']);
    expect(eligible('node.labels.zone!=b')).toEqual(['n1', 'n3']);
    expect(eligible('engine.labels.kernel!=5')).toEqual(['n1', 'n2', 'n3']);
  });

  it('compares values and attribute names case-insensitively, label keys case-sensitively (as Docker does)', () => {
    expect(eligible('node.hostname==ALPHA')).toEqual(['n1']);
    expect(eligible('node.labels.zone==A')).toEqual(['n1']);
    expect(eligible('Node.Labels.zone==a')).toEqual(['n1']);
    expect(eligible('node.role==Manager')).toEqual(['n1']);
    expect(eligible('node.labels.ZONE==a')).toEqual([]);
  });

  it('requires every constraint to hold', () => {
    expect(eligible('node.role==worker', 'node.labels.zone!=b')).toEqual(['n3']);
    expect(eligible('node.platform.os==linux', 'node.labels.zone==b', 'engine.labels.os==debian')).toEqual(['n2']);
  });

  it('names the first constraint each node fails', () => {
    const result = placeTasks({
      nodes: NODES,
      running: [],
      pending: replicas('web', 1, { constraints: ['node.platform.os==linux', 'node.labels.zone==c'] }),
    });
    expect(result.unplaced).toEqual([
      {
        taskId: 'web.1',
        message:
          'no suitable node (constraint node.labels.zone==c on 2 nodes; constraint node.platform.os==linux on 1 node)',
      },
    ]);
  });

  it('never satisfies an attribute it does not know, whatever the operator', () => {
    expect(eligible('node.colour!=blue')).toEqual([]);
    const result = placeTasks({
      nodes: NODES,
      running: [],
      pending: replicas('web', 1, { constraints: ['node.ip==1'] }),
    });
    expect(result.unplaced[0]?.message).toBe('no suitable node (constraint node.ip==1 on 3 nodes)');
  });

  it('does not read inherited properties as labels', () => {
    expect(eligible('node.labels.constructor!=')).toEqual([]);
    expect(eligible('node.labels.constructor==')).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('platforms', () => {
  it('keeps a task on nodes of a listed platform, with x86_64 read as amd64 and aarch64 as arm64', () => {
    const place = (platforms: { os?: string; architecture?: string }[]) =>
      placeTasks({ nodes: NODES, running: [], pending: replicas('web', 3, { platforms, maxReplicasPerNode: 1 }) })
        .assigned.map((a) => a.nodeId)
        .sort();
    expect(place([{ os: 'linux', architecture: 'amd64' }])).toEqual(['n1']);
    expect(place([{ os: 'linux', architecture: 'arm64' }])).toEqual(['n2']);
    expect(place([{ os: 'linux' }])).toEqual(['n1', 'n2']);
    expect(place([{ architecture: 'amd64' }])).toEqual(['n1', 'n3']);
    expect(
      place([
        { os: 'windows', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ]),
    ).toEqual(['n2', 'n3']);
    expect(place([])).toEqual(['n1', 'n2', 'n3']);
  });

  it('says which platforms were wanted', () => {
    const result = placeTasks({
      nodes: NODES,
      running: [],
      pending: replicas('web', 1, { platforms: [{ os: 'linux', architecture: 'riscv64' }] }),
    });
    expect(result.unplaced[0]?.message).toBe('no suitable node (platform linux/riscv64 not supported on 3 nodes)');
  });
});
