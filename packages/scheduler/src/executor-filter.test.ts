import { describe, expect, it } from 'vitest';
import { countsOf, node, replicas, task } from '../test/fixtures.js';
import { ClusterSnapshot } from './cluster-snapshot.js';
import { placeTasks } from './place-tasks.js';

const processNodes = [node('p1', { executor: 'process' }), node('p2', { executor: 'process' })];

describe('nodes that run tasks as plain processes', () => {
  it('are refused, and the pending task says why and how to allow it', () => {
    const result = placeTasks({ nodes: processNodes, running: [], pending: replicas('web', 2) });
    expect(result.assigned).toEqual([]);
    expect(result.unplaced.map((u) => u.message)).toEqual([
      'no suitable node (2 nodes run tasks as plain processes without isolation (to allow it: x-flotilla: { allow_process_executor: true }))',
      'no suitable node (2 nodes run tasks as plain processes without isolation (to allow it: x-flotilla: { allow_process_executor: true }))',
    ]);
  });

  it('take the tasks of a service that allows them', () => {
    const result = placeTasks({
      nodes: processNodes,
      running: [],
      pending: replicas('web', 4, { allowProcessExecutor: true }),
    });
    expect(result.unplaced).toEqual([]);
    expect(countsOf(result)).toEqual({ p1: 2, p2: 2 });
  });

  it('leave the tasks of a mixed cluster to its containerd nodes, and to nodes that report no executor', () => {
    const nodes = [...processNodes, node('c1', { executor: 'containerd' }), node('old')];
    const result = placeTasks({ nodes, running: [], pending: replicas('web', 6) });
    expect(result.unplaced).toEqual([]);
    expect(countsOf(result)).toEqual({ c1: 3, old: 3 });
  });

  it('count beside the other reasons when no node fits', () => {
    const nodes = [...processNodes, node('c1', { executor: 'containerd', labels: { zone: 'a' } })];
    const result = placeTasks({
      nodes,
      running: [],
      pending: replicas('web', 1, { constraints: ['node.labels.zone==b'] }),
    });
    expect(result.unplaced[0]?.message).toBe(
      'no suitable node (2 nodes run tasks as plain processes without isolation (to allow it: x-flotilla: { allow_process_executor: true }); constraint node.labels.zone==b on 1 node)',
    );
  });

  it('refuse a global task pinned to one of them, naming the node', () => {
    const result = new ClusterSnapshot(processNodes).place([task('agent.p1', { service: 'agent', nodeId: 'p1' })]);
    expect(result.unplaced[0]?.message).toBe(
      'no suitable node (node p1: it runs tasks as plain processes without isolation (to allow it: x-flotilla: { allow_process_executor: true }))',
    );
  });

  it('do not share a cached verdict between a service that allows them and one that does not', () => {
    const snapshot = new ClusterSnapshot(processNodes);
    const refused = snapshot.place(replicas('a', 1));
    const allowed = snapshot.place(replicas('b', 1, { allowProcessExecutor: true }));
    const again = snapshot.place(replicas('c', 1));
    expect([refused.assigned.length, allowed.assigned.length, again.assigned.length]).toEqual([0, 1, 0]);
  });

  it('are refused to a service that allows them but mounts secrets or configs, saying why', () => {
    const nodes = [...processNodes, node('c1', { executor: 'containerd' })];
    const pending = replicas('db', 3, { allowProcessExecutor: true, secrets: ['pw'] });
    const result = placeTasks({ nodes, running: [], pending });
    expect(countsOf(result)).toEqual({ c1: 3 });
    const alone = placeTasks({
      nodes: processNodes,
      running: [],
      pending: replicas('db', 1, { allowProcessExecutor: true, secrets: ['pw'] }),
    });
    expect(alone.unplaced[0]?.message).toBe(
      'no suitable node (2 nodes run tasks as plain processes and cannot mount secrets or configs: those need a node with the containerd executor)',
    );
  });
});
