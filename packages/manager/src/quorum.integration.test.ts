import { joinCluster, PeerCaller } from '@flotilla/agent';
import {
  type ControlServiceClient,
  DispatcherServiceClient,
  NodeStatus_State,
  PeerServiceClient,
  type ProbeResponse,
  type SessionInfo,
  type SessionResponse,
  type Task,
  TaskState,
} from '@flotilla/api';
import { CertificateAuthority, createKeyAndCsr, MANAGER_SERVER_NAME } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { HollowNodes } from '@flotilla/testing';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyHollowNodes, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// The quorum rule on the leader's side, end to end on hollow nodes: a lost node's tasks are replaced only while
// the leader hears a strict majority of the voters (the nodes and the managers); otherwise the lost nodes are
// unknown, their tasks stay, and nothing runs twice when they come back.
let cluster: TestCluster;
let manager: RunningManager;
let control: ControlServiceClient;
let rpc: TestCluster['rpc'];
const groups: HollowNodes[] = [];

beforeAll(async () => {
  cluster = await startTestCluster('quorum');
  ({ manager, control, rpc } = cluster);
  await hollow(3, 'base');
});

afterAll(async () => {
  for (const g of groups) g.stop();
  await cluster?.stop();
});

async function hollow(count: number, name: string): Promise<HollowNodes> {
  const group = await readyHollowNodes(manager, count, name);
  groups.push(group);
  return group;
}

async function nodes() {
  return (await manager.store.list('nodes')).items.map((n) => n.value);
}

async function state(nodeId: string): Promise<NodeStatus_State | undefined> {
  return (await manager.store.get('nodes', nodeId))?.value.status?.state;
}

async function tasks(service: string): Promise<Task[]> {
  return (await rpc(control.listTasks, { service, stack: '', node: '' })).tasks;
}

const live = (ts: Task[]) => ts.filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING);
const running = (ts: Task[]) => live(ts).filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
const allNodes = () => groups.flatMap((g) => g.nodes);

/** Samples what every fake runtime runs, until stopped: the first slot seen running on two nodes at once. */
function watchDoubles(): { stop(): string } {
  let doubled = '';
  const sampler = setInterval(() => {
    const seen = new Map<string, string>();
    for (const n of allNodes()) {
      for (const task of n.running.values()) {
        const key = `${task.serviceId}/${task.slot}`;
        if (seen.has(key) && seen.get(key) !== n.credentials.nodeId) doubled ||= key;
        seen.set(key, n.credentials.nodeId);
      }
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(sampler);
      return doubled;
    },
  };
}

function probe(client: PeerServiceClient): Promise<ProbeResponse> {
  return new Promise((resolve, reject) =>
    client.probe({}, new Metadata(), { deadline: Date.now() + 5_000 }, (err: ServiceError | null, value) =>
      err ? reject(err) : resolve(value),
    ),
  );
}

describe('the quorum rule on the leader', () => {
  it('a manager answers probes, to a certificate of the cluster only: it leads, so it hears a leader', async () => {
    const creds = allNodes()[0]!.credentials;
    const ca = Buffer.from(creds.caCertPem);
    const opts = { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME };
    const member = new PeerServiceClient(
      manager.address,
      credentials.createSsl(ca, Buffer.from(creds.keyPem), Buffer.from(creds.certPem)),
      opts,
    );
    const anonymous = new PeerServiceClient(manager.address, credentials.createSsl(ca), opts);
    const { ca: rogueCa } = await CertificateAuthority.create(manager.identity.clusterId);
    const { keyPem, csrPem } = await createKeyAndCsr();
    const rogueCert = await rogueCa.issue({ csrPem, nodeId: creds.nodeId, role: 'worker' });
    const rogue = new PeerServiceClient(
      manager.address,
      credentials.createSsl(ca, Buffer.from(keyPem), Buffer.from(rogueCert)),
      opts,
    );
    try {
      const answer = await probe(member);
      expect(answer).toMatchObject({ hearsLeader: true, silentMs: 0n });
      // It has led since it started (well before this probe): how long it has heard the leader it hears.
      expect(answer.leaderHeardForMs).toBeGreaterThan(0n);
      await expect(probe(anonymous)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
      // A certificate of another CA is refused at the handshake already (the connection drops).
      const refused = await probe(rogue).then(
        () => undefined,
        (err: ServiceError) => err.code,
      );
      expect([status.PERMISSION_DENIED, status.UNAVAILABLE]).toContain(refused);
    } finally {
      for (const c of [member, anonymous, rogue]) c.close();
    }
  });

  it('a node lost while the leader hears a majority (3 of 4 voters) is down, and its task is replaced', async () => {
    const yaml = [
      'services:',
      '  web:',
      '    image: nginx',
      '    deploy:',
      '      replicas: 3',
      '      restart_policy:',
      '        delay: 0s',
      '',
    ].join('\n');
    await rpc(control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, 'q'), prune: true });
    await expect.poll(async () => running(await tasks('q_web')).length, { timeout: 10_000 }).toBe(3);
    const victim = allNodes()[0]!;
    const victimId = victim.credentials.nodeId;
    const onVictim = running(await tasks('q_web')).filter((t) => t.nodeId === victimId);
    expect(onVictim.length).toBeGreaterThan(0);
    const doubles = watchDoubles();
    try {
      victim.session.suspend();
      await expect.poll(() => state(victimId), { timeout: 10_000, interval: 50 }).toBe(NodeStatus_State.STATE_DOWN);
      await expect
        .poll(async () => running(await tasks('q_web')).filter((t) => t.nodeId !== victimId).length, {
          timeout: 5_000,
        })
        .toBe(3);
      const old = (await tasks('q_web')).filter((t) => onVictim.some((o) => o.id === t.id));
      expect(old.every((t) => t.status?.state === TaskState.TASK_STATE_ORPHANED)).toBe(true);
      victim.session.resume();
      await expect.poll(() => state(victimId), { timeout: 10_000 }).toBe(NodeStatus_State.STATE_READY);
    } finally {
      expect(doubles.stop()).toBe('');
    }
  });

  it('a leader that hears fewer than half of the voters (2 of 5) marks the lost nodes unknown and replaces nothing; back, they are ready and nothing ran twice', async () => {
    await hollow(1, 'extra');
    // Settled: three tasks running, at most one per node (the joins' rebalancing done), so one node runs none.
    const settled = async () => {
      const current = running(await tasks('q_web'));
      const perNode = new Set(current.map((t) => t.nodeId));
      return current.length === 3 && live(await tasks('q_web')).length === 3 && perNode.size === 3;
    };
    await expect.poll(settled, { timeout: 20_000, interval: 200 }).toBe(true);
    await new Promise((r) => setTimeout(r, 1_500));
    await expect.poll(settled, { timeout: 20_000, interval: 200 }).toBe(true);
    const busy = new Set(running(await tasks('q_web')).map((t) => t.nodeId));
    const cut = allNodes().filter((n) => busy.has(n.credentials.nodeId));
    const keeper = allNodes().find((n) => !busy.has(n.credentials.nodeId))!;
    expect([cut.length, allNodes().length]).toEqual([3, 4]);
    const before = (await tasks('q_web')).map((t) => t.id).sort();
    const liveBefore = live(await tasks('q_web'))
      .map((t) => t.id)
      .sort();
    const doubles = watchDoubles();
    try {
      for (const n of cut) n.session.suspend();
      for (const n of cut) {
        await expect
          .poll(() => state(n.credentials.nodeId), { timeout: 10_000, interval: 50 })
          .toBe(NodeStatus_State.STATE_UNKNOWN);
      }
      const marked = (await nodes()).filter((n) => cut.some((c) => c.credentials.nodeId === n.id));
      expect(marked.map((n) => n.status?.message)).toEqual(Array(3).fill('not replaced: only 2 of 5 voters heard'));
      expect(await state(keeper.credentials.nodeId)).toBe(NodeStatus_State.STATE_READY);
      // Several liveness checks and orchestrator rounds later: no task replaced, none made, none stopped.
      await new Promise((r) => setTimeout(r, 2_000));
      const during = await tasks('q_web');
      expect(during.map((t) => t.id).sort()).toEqual(before);
      expect(
        live(during)
          .map((t) => t.id)
          .sort(),
      ).toEqual(liveBefore);
      for (const n of cut) expect(await state(n.credentials.nodeId)).toBe(NodeStatus_State.STATE_UNKNOWN);

      for (const n of cut) n.session.resume();
      for (const n of cut) {
        await expect.poll(() => state(n.credentials.nodeId), { timeout: 10_000 }).toBe(NodeStatus_State.STATE_READY);
      }
      await expect.poll(async () => running(await tasks('q_web')).length, { timeout: 15_000 }).toBe(3);
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      expect(doubles.stop()).toBe('');
    }
    expect(live(await tasks('q_web'))).toHaveLength(3);
  });

  it("the operator's drain moves an unknown node's task: a majority really lost, by the operator's word", async () => {
    const yaml = ['services:', '  one:', '    image: nginx', '    deploy:', '      replicas: 1', ''].join('\n');
    await rpc(control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, 'd'), prune: true });
    await expect.poll(async () => running(await tasks('d_one')).length, { timeout: 10_000 }).toBe(1);
    const [first] = running(await tasks('d_one'));
    const host = allNodes().find((n) => n.credentials.nodeId === first!.nodeId)!;
    const others = allNodes().filter((n) => n !== host);
    const cut = [host, ...others.slice(0, 2)];
    for (const n of cut) n.session.suspend();
    try {
      await expect
        .poll(() => state(host.credentials.nodeId), { timeout: 10_000, interval: 50 })
        .toBe(NodeStatus_State.STATE_UNKNOWN);
      expect((await tasks('d_one')).map((t) => t.id)).toEqual([first!.id]);
      await rpc(control.updateNode, { node: host.credentials.nodeId, availability: 3, labelAdd: {}, labelRm: [] });
      await expect
        .poll(async () => running(await tasks('d_one')).filter((t) => t.id !== first!.id).length, {
          timeout: 10_000,
        })
        .toBe(1);
      const old = (await tasks('d_one')).find((t) => t.id === first!.id);
      expect([old?.desiredState, old?.status?.state]).toEqual([
        TaskState.TASK_STATE_SHUTDOWN,
        TaskState.TASK_STATE_ORPHANED,
      ]);
    } finally {
      for (const n of cut) n.session.resume();
      await rpc(control.updateNode, { node: host.credentials.nodeId, availability: 1, labelAdd: {}, labelRm: [] });
    }
    for (const n of cut) {
      await expect.poll(() => state(n.credentials.nodeId), { timeout: 10_000 }).toBe(NodeStatus_State.STATE_READY);
    }
  });

  it('tells each session the voters: every node with its probe address, and the manager at its address', async () => {
    const creds = await joinCluster({
      manager: manager.address,
      token: manager.identity.tokens.worker,
      stateDir: cluster.dir('raw-node'),
    });
    const client = new DispatcherServiceClient(
      manager.address,
      credentials.createSsl(Buffer.from(creds.caCertPem), Buffer.from(creds.keyPem), Buffer.from(creds.certPem)),
      { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
    );
    const stream = client.session();
    const infos: SessionInfo[] = [];
    stream.on('data', (m: SessionResponse) => {
      if (m.session) infos.push(m.session);
    });
    stream.on('error', () => undefined); // ended below
    // A node that did not heartbeat would be marked down, and its session ended.
    const beat = setInterval(() => stream.write({ heartbeat: { sentAtMs: BigInt(Date.now()) } }), 100);
    try {
      stream.write({ capabilities: { overlay: false, probePort: 7001, managerAddress: '' } });
      await expect
        .poll(async () => (await manager.store.get('nodes', creds.nodeId))?.value.status?.probeAddress, {
          timeout: 5_000,
        })
        .toBe('127.0.0.1:7001');
      const expected = async () => [
        ...(await nodes())
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((n) => ({ id: n.id, probeAddress: n.status?.probeAddress ?? '', manager: false })),
        { id: manager.identity.nodeId, probeAddress: manager.address, manager: true },
      ];
      await expect.poll(() => infos.at(-1)?.voters, { timeout: 5_000 }).toEqual(await expected());
      expect(infos.at(-1)?.voters.find((v) => v.id === creds.nodeId)?.probeAddress).toBe('127.0.0.1:7001');
      // Probed as the voter it is named, the manager answers with a certificate of that name, and only so.
      const caller = new PeerCaller(creds);
      try {
        expect(await caller.call(manager.address, 2_000, manager.identity.nodeId)).toMatchObject({
          hearsLeader: true,
        });
        await expect(caller.call(manager.address, 2_000, creds.nodeId)).rejects.toMatchObject({
          code: status.UNAVAILABLE,
        });
      } finally {
        caller.close();
      }
    } finally {
      clearInterval(beat);
      stream.end();
      client.close();
    }
  });
});
