import { ControlServiceClient, type ListNodesResponse, NodeStatus_State } from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import type { HollowNodes } from '@flotilla/testing';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, readyHollowNodes, rpc, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import { type RunningManager, startManager } from './manager.js';

// The managers as members: listed with the nodes, warned about when they tolerate no failure, not removed while
// they serve, and demoted, after which the demoted one stops and the others carry on.
let cluster: TestCluster;
let second: RunningManager | undefined;
let secondDir: string;
let group: HollowNodes;

beforeAll(async () => {
  cluster = await startTestCluster('members', { electionTtlSeconds: 2 });
  group = await readyHollowNodes(cluster.manager, 2, 'members', { startDelayMs: 30 });
});

afterAll(async () => {
  group?.stop();
  await second?.stop();
  await cluster?.stop();
});

const client = (address: string) => operatorClient(cluster.manager, address);

const listed = (r: ListNodesResponse) =>
  r.managers.map((m) => `${m.manager?.id}:${m.leader ? 'leader' : m.reachable ? 'reachable' : 'unreachable'}`);

describe('managers as members of the cluster', () => {
  it('one manager: listed as the leader beside the nodes, with a warning that it tolerates no failure', async () => {
    const c = client(cluster.manager.address);
    const nodes = await rpc(c, c.listNodes, {});
    expect(nodes.nodes).toHaveLength(2);
    expect(listed(nodes)).toEqual([`${cluster.manager.identity.nodeId}:leader`]);
    expect(nodes.warnings.join()).toMatch(/one manager.*add two more/);
    // The only manager can be neither demoted nor removed.
    await expect(rpc(c, c.demoteNode, { node: cluster.manager.identity.nodeId })).rejects.toThrow(/last manager/);
    await expect(rpc(c, c.removeNode, { node: cluster.manager.identity.nodeId, force: false })).rejects.toThrow(
      /is a manager: demote it first/,
    );
    c.close();
  });

  it('a second manager joins: both listed, the leader first; removing it is refused until it is demoted', async () => {
    secondDir = cluster.dir('m2');
    second = await cluster.joinManager('m2');
    const c = client(second.address);
    const first = cluster.manager.identity.nodeId;
    const other = second.identity.nodeId;
    await expect
      .poll(async () => listed(await rpc(c, c.listNodes, {})), { timeout: 10_000 })
      .toEqual([`${first}:leader`, `${other}:reachable`]);
    // Two managers on an external etcd: either can lead alone, so no warning.
    expect((await rpc(c, c.listNodes, {})).warnings).toEqual([]);
    await expect(rpc(c, c.removeNode, { node: other, force: false })).rejects.toThrow(/demote it first/);
    c.close();
  });

  it('demoted, a manager stops; it cannot start again on its state directory; the other leads on', async () => {
    const c = client(cluster.manager.address);
    const demoted = second as RunningManager;
    const { manager } = await rpc(c, c.demoteNode, { node: demoted.identity.nodeId.slice(0, 10) });
    expect(manager?.demoted).toBe(true);
    // The demoted manager learns it within a couple of seconds (whoever runs it then stops it).
    const learnt = await Promise.race([
      demoted.demoted.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 5_000)),
    ]);
    expect(learnt).toBe(true);
    await demoted.stop();
    second = undefined;
    // Its manager certificate is revoked: the managers left refuse it.
    const asDemoted = new ControlServiceClient(
      cluster.manager.address,
      credentials.createSsl(
        Buffer.from(demoted.identity.ca.certPem),
        Buffer.from(demoted.identity.keyPem),
        Buffer.from(demoted.identity.certPem),
      ),
      { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
    );
    await expect(rpc(asDemoted, asDemoted.listNodes, {})).rejects.toThrow(/revoked/);
    asDemoted.close();
    // No longer listed; the nodes stay ready under the leader that stayed.
    const after = await rpc(c, c.listNodes, {});
    expect(listed(after)).toEqual([`${cluster.manager.identity.nodeId}:leader`]);
    expect(after.nodes.map((n) => n.status?.state)).toEqual([
      NodeStatus_State.STATE_READY,
      NodeStatus_State.STATE_READY,
    ]);
    await expect(
      startManager({
        etcd: { endpoints: [cluster.etcd.url] },
        listen: '127.0.0.1:0',
        stateDir: secondDir,
        cliConfigDir: cluster.dir('cli2'),
      }),
    ).rejects.toThrow(/was demoted.*new --state-dir/);
    // A demoted manager's record is removed with node rm, without --force.
    await rpc(c, c.removeNode, { node: demoted.identity.nodeId, force: false });
    c.close();
  });
});
