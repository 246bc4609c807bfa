import { type AddressInfo, createServer, type Socket } from 'node:net';
import { AgentSession, joinCluster, type NodeCredentials } from '@flotilla/agent';
import {
  type Assignments,
  DispatcherServiceClient,
  DispatcherServiceService,
  NodeCaServiceService,
  NodeStatus_State,
  type SessionInfo,
  type SessionResponse,
  Task,
  TaskState,
} from '@flotilla/api';
import { CertificateAuthority, createKeyAndCsr, MANAGER_SERVER_NAME } from '@flotilla/pki';
import { connectEtcd, Store } from '@flotilla/store';
import { startEtcd, TcpProxy, type TestServer, tempDir } from '@flotilla/testing';
import { credentials, Server } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCluster, type ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import { joinService } from '../cluster/join-service.js';
import { managerCredentials } from '../cluster/server-credentials.js';
import { Dispatcher } from './dispatcher.js';

const PERIOD = 200;
const GRACE = 3;

let etcd: TestServer;
let client: Etcd3;
let store: Store;
let identity: ManagerIdentity;
let server: Server;
let dispatcher: Dispatcher;
let port: number;
const sessions: AgentSession[] = [];
const proxies: TcpProxy[] = [];
const dirs: { path: string; remove(): void }[] = [];
const dir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d.path;
};

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  store = new Store(client);
  identity = await bootstrapCluster(store, dir('manager'), {
    advertise: { hosts: ['localhost'], ips: ['127.0.0.1'] },
  });
  dispatcher = new Dispatcher(store, identity.ca, {
    heartbeatPeriodMs: PERIOD,
    gracePeriods: GRACE,
    managers: () => [],
  });
  server = new Server();
  server.addService(NodeCaServiceService, joinService(store, identity.ca, identity.caKeyPem));
  server.addService(DispatcherServiceService, dispatcher.service());
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', managerCredentials(identity), (err, p) => (err ? reject(err) : resolve(p))),
  );
  await dispatcher.start();
});

afterAll(async () => {
  for (const s of sessions) s.stop();
  for (const p of proxies) await p.close();
  await dispatcher?.stop();
  server?.forceShutdown();
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

async function nodeState(nodeId: string): Promise<NodeStatus_State | undefined> {
  return (await store.get('nodes', nodeId))?.value.status?.state;
}

/** A joined node whose session goes through a proxy the test can cut. */
async function joinedNode(): Promise<{ creds: NodeCredentials; proxy: TcpProxy }> {
  const creds = await joinCluster({
    manager: `127.0.0.1:${port}`,
    token: identity.tokens.worker,
    stateDir: dir('agent'),
  });
  const proxy = await TcpProxy.start(port);
  proxies.push(proxy);
  return { creds: { ...creds, managers: [`127.0.0.1:${proxy.port}`] }, proxy };
}

function session(creds: NodeCredentials): AgentSession {
  const s = new AgentSession(creds, { backoffMs: { first: 50, max: 200 } });
  sessions.push(s);
  s.start();
  return s;
}

describe('agent sessions and liveness', () => {
  it('a session makes the node ready; silence marks it down within the grace plus one period; a reconnect makes it ready again', async () => {
    const { creds, proxy } = await joinedNode();
    const agent = session(creds);
    await expect.poll(() => nodeState(creds.nodeId), { timeout: 5_000 }).toBe(NodeStatus_State.STATE_READY);
    await new Promise((r) => setTimeout(r, PERIOD * 3)); // a few heartbeats keep it ready
    expect(await nodeState(creds.nodeId)).toBe(NodeStatus_State.STATE_READY);

    const cutAt = Date.now();
    await proxy.cut();
    await expect
      .poll(() => nodeState(creds.nodeId), { timeout: 5_000, interval: 20 })
      .toBe(NodeStatus_State.STATE_DOWN);
    expect(Date.now() - cutAt).toBeLessThan(PERIOD * (GRACE + 1) + 400);

    await proxy.restore();
    await expect.poll(() => nodeState(creds.nodeId), { timeout: 5_000 }).toBe(NodeStatus_State.STATE_READY);
    expect(agent.sessions).toBe(2);
  });

  it('refuses a session from a certificate another CA issued, even with a real node ID', async () => {
    const { creds } = await joinedNode();
    const { ca: rogue } = await CertificateAuthority.create(identity.clusterId);
    const { keyPem, csrPem } = await createKeyAndCsr();
    const forged = await rogue.issue({ csrPem, nodeId: creds.nodeId, role: 'manager' });
    const impostor = session({ ...creds, keyPem, certPem: forged, managers: [`127.0.0.1:${port}`] });
    await new Promise((r) => setTimeout(r, 500));
    expect(impostor.sessions).toBe(0);
    expect(dispatcher.connectedNodes()).not.toContain(creds.nodeId);
  });

  it('sends each node its own tasks, then changes; writes its status reports in batches, only for its own tasks', async () => {
    const a = await joinedNode();
    const b = await joinedNode();
    const task = (id: string, nodeId: string) =>
      Task.fromPartial({
        id,
        nodeId,
        serviceId: 'svc',
        desiredState: TaskState.TASK_STATE_RUNNING,
        specVersion: 1n,
        status: { state: TaskState.TASK_STATE_ASSIGNED },
      });
    await store.batch([
      { op: 'create', kind: 'tasks', id: 'ta1', value: task('ta1', a.creds.nodeId) },
      { op: 'create', kind: 'tasks', id: 'tb1', value: task('tb1', b.creds.nodeId) },
    ]);
    const received: Assignments[] = [];
    const agentA = new AgentSession(a.creds, {
      backoffMs: { first: 50, max: 200 },
      onAssignments: (x) => received.push(x),
    });
    sessions.push(agentA);
    agentA.start();
    await expect.poll(() => received.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(received[0]?.full).toBe(true);
    expect(received[0]?.tasks.map((t) => t.id)).toEqual(['ta1']);

    // A new task for A arrives as a change; B's tasks never reach A.
    await store.create('tasks', 'ta2', task('ta2', a.creds.nodeId));
    await expect.poll(() => received.flatMap((r) => r.tasks.map((t) => t.id)), { timeout: 5_000 }).toContain('ta2');

    // Status for its own task is written; a report about B's task is refused.
    const running = { state: TaskState.TASK_STATE_RUNNING, timestampMs: BigInt(Date.now()), message: 'started' };
    expect(
      agentA.reportStatus([
        { taskId: 'ta1', status: running },
        { taskId: 'tb1', status: running },
      ]),
    ).toBe(true);
    await expect
      .poll(async () => (await store.get('tasks', 'ta1'))?.value.status?.state, { timeout: 5_000 })
      .toBe(TaskState.TASK_STATE_RUNNING);
    expect((await store.get('tasks', 'tb1'))?.value.status?.state).toBe(TaskState.TASK_STATE_ASSIGNED);
    expect(dispatcher.statuses.stats.refused).toBeGreaterThanOrEqual(1);
    // The status write is not echoed back to the node as an assignment change.
    const after = received.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(received.slice(after).flatMap((r) => r.tasks.map((t) => t.id))).not.toContain('ta1');
  });

  it('keeps the probe address an agent says with its node status, and tells its session the voters again', async () => {
    const { creds } = await joinedNode();
    const client = new DispatcherServiceClient(
      `127.0.0.1:${port}`,
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
        .poll(async () => (await store.get('nodes', creds.nodeId))?.value.status?.probeAddress, { timeout: 5_000 })
        .toBe('127.0.0.1:7001');
      // Told at the start (its address not known yet), then again once it is.
      expect(infos[0]?.voters.find((v) => v.id === creds.nodeId)).toEqual({
        id: creds.nodeId,
        probeAddress: '',
        manager: false,
      });
      await expect
        .poll(() => infos.at(-1)?.voters.find((v) => v.id === creds.nodeId), { timeout: 5_000 })
        .toEqual({ id: creds.nodeId, probeAddress: '127.0.0.1:7001', manager: false });
      // Every node of the store is a voter; this dispatcher was given no managers.
      const stored = (await store.list('nodes')).items.map((n) => n.id).sort();
      expect(infos.at(-1)?.voters.map((v) => v.id)).toEqual(stored);
    } finally {
      clearInterval(beat);
      stream.end();
      client.close();
    }
  });

  it('a manager whose host is gone (connections taken, never answered) does not hold the agent: the next is tried beside it', async () => {
    const { creds } = await joinedNode();
    // What a vanished host looks like to gRPC: no refusal, no TLS handshake, only its 20 s connect timeout.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const agent = session({ ...creds, managers: [silentAddress, `127.0.0.1:${port}`] });
      await expect.poll(() => agent.sessions, { timeout: 10_000, interval: 20 }).toBe(1);
      // The grace (1 s) and the handshake, far from 20 s.
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(held.length).toBeGreaterThan(0);
      expect(await nodeState(creds.nodeId)).toBe(NodeStatus_State.STATE_READY);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('refuses a session for a node removed from the cluster', async () => {
    const { creds } = await joinedNode();
    await store.delete('nodes', creds.nodeId);
    const removed = session({ ...creds, managers: [`127.0.0.1:${port}`] });
    await new Promise((r) => setTimeout(r, 500));
    expect(removed.sessions).toBe(0);
  });
});
