import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { AgentSession, joinCluster, MAX_UNREAD_BATCHES, type NodeCredentials } from '@flotilla/agent';
import {
  type Assignments,
  DispatcherServiceClient,
  DispatcherServiceService,
  NodeCaServiceService,
  NodeStatus_State,
  type SessionRequest,
  type SessionResponse,
  Task,
  TaskState,
} from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { connectEtcd, Store } from '@flotilla/store';
import { startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import { type ClientDuplexStream, credentials, Server, type StatusObject, status } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCluster, type ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import { joinService } from '../cluster/join-service.js';
import { managerCredentials } from '../cluster/server-credentials.js';
import { Dispatcher } from './dispatcher.js';

const PERIOD = 300;
const MAX_BEHIND_MS = 1_500;
/** A node cut off is refused a new session for this long (its first cut-off). */
const BACKOFF_MS = 2_000;

let etcd: TestServer;
let client: Etcd3;
let store: Store;
let identity: ManagerIdentity;
let server: Server;
let dispatcher: Dispatcher;
let port: number;
const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
const cutOffs: string[] = [];
const agents: AgentSession[] = [];
const clients: DispatcherServiceClient[] = [];
const dirs: { path: string; remove(): void }[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  store = new Store(client);
  const d = tempDir('bounds-manager');
  dirs.push(d);
  identity = await bootstrapCluster(store, d.path, { advertise: { hosts: ['localhost'], ips: ['127.0.0.1'] } });
  dispatcher = new Dispatcher(store, identity.ca, {
    heartbeatPeriodMs: PERIOD,
    // Long enough that a test process busy with 8 MB of tasks does not miss heartbeats.
    gracePeriods: 8,
    managers: () => [],
    maxBehindMs: MAX_BEHIND_MS,
    cutOffBackoffMs: BACKOFF_MS,
    onCutOff: (why) => cutOffs.push(why),
    logger: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) },
  });
  server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  server.addService(NodeCaServiceService, joinService(store, identity.ca, identity.caKeyPem));
  server.addService(DispatcherServiceService, dispatcher.service());
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', managerCredentials(identity), (err, p) => (err ? reject(err) : resolve(p))),
  );
  await dispatcher.start();
});

afterAll(async () => {
  for (const a of agents) a.stop();
  for (const c of clients) c.close();
  await dispatcher?.stop();
  server?.forceShutdown();
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

async function join(): Promise<NodeCredentials> {
  const d = tempDir('bounds-agent');
  dirs.push(d);
  return joinCluster({ manager: `127.0.0.1:${port}`, token: identity.tokens.worker, stateDir: d.path });
}

/** A well-behaved agent: the real session, its heartbeats and status reports. */
function agent(creds: NodeCredentials, received: Assignments[] = []): AgentSession {
  const a = new AgentSession(
    { ...creds, managers: [`127.0.0.1:${port}`] },
    { backoffMs: { first: 50, max: 200 }, onAssignments: (x) => received.push(x) },
  );
  agents.push(a);
  a.start();
  return a;
}

/**
 * A loopback proxy that forwards both ways until `stall()`, then only toward the manager: what the manager sees
 * of an agent that does not read its session (its stream's flow control fills, its writes wait).
 */
async function stallingProxy(): Promise<{ port: number; stall(): void; close(): void }> {
  const sockets: Socket[] = [];
  const upstreams: Socket[] = [];
  const proxy: NetServer = createServer((agentSide) => {
    const managerSide = connect({ host: '127.0.0.1', port });
    sockets.push(agentSide, managerSide);
    upstreams.push(managerSide);
    for (const s of [agentSide, managerSide]) s.on('error', () => undefined);
    agentSide.pipe(managerSide);
    managerSide.pipe(agentSide);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as { port: number }).port,
    stall: () => {
      for (const s of upstreams) {
        s.unpipe();
        s.pause();
      }
    },
    close: () => {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}

/** A session opened by hand with a node's certificate: it sends and reads what the test says. */
function rawSession(
  creds: NodeCredentials,
  address = `127.0.0.1:${port}`,
): {
  stream: ClientDuplexStream<SessionRequest, SessionResponse>;
  ended: Promise<StatusObject>;
} {
  const c = new DispatcherServiceClient(
    address,
    credentials.createSsl(Buffer.from(creds.caCertPem), Buffer.from(creds.keyPem), Buffer.from(creds.certPem)),
    { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
  );
  clients.push(c);
  const stream = c.session();
  // Every end of the call, refused or not ('error' comes only with a status other than OK).
  const ended = new Promise<StatusObject>((resolve) => {
    stream.on('status', resolve);
    stream.on('error', () => undefined);
  });
  return { stream, ended };
}

const task = (id: string, nodeId: string, env: string[] = []) =>
  Task.fromPartial({
    id,
    nodeId,
    serviceId: 'svc',
    desiredState: TaskState.TASK_STATE_RUNNING,
    specVersion: 1n,
    spec: { image: 'app:1', env },
    status: { state: TaskState.TASK_STATE_ASSIGNED },
  });

/** Every task the tests create, removed at the end (too many bytes to list in one answer). */
const created: string[] = [];
async function createTask(value: Task): Promise<void> {
  created.push(value.id);
  await store.create('tasks', value.id, value);
}

const nodeStatus = async (nodeId: string) => (await store.get('nodes', nodeId))?.value.status;
const taskState = async (id: string) => (await store.get('tasks', id))?.value.status?.state;

describe('bounded sessions', () => {
  it('cuts off a node that floods its session, with the reason logged; another node keeps its session, heartbeats and status writes', async () => {
    const good = await join();
    await createTask(task('good-1', good.nodeId));
    const goodAgent = agent(good);
    await expect.poll(() => dispatcher.connectedNodes(), { timeout: 5_000 }).toContain(good.nodeId);

    const flooder = await join();
    const flood = rawSession(flooder);
    flood.stream.on('data', () => undefined);
    const beatsBefore = goodAgent.heartbeatsSent;
    // Status batches as fast as the stream takes them, about tasks of its own or not: what a node gone wrong sends.
    const updates = Array.from({ length: 200 }, (_, i) => ({
      taskId: `junk-${i}`,
      status: { state: TaskState.TASK_STATE_RUNNING, timestampMs: 1n, message: 'x', error: '', exitCode: 0 },
    }));
    let sent = 0;
    // As fast as the manager takes them.
    const pump = setInterval(() => {
      for (let i = 0; i < 10 && !flood.stream.writableNeedDrain; i++, sent++)
        flood.stream.write({ status: { updates } });
    }, 5);
    // While it floods, the other node reports its task running.
    const running = { state: TaskState.TASK_STATE_RUNNING, timestampMs: BigInt(Date.now()), message: 'started' };
    expect(goodAgent.reportStatus([{ taskId: 'good-1', status: running }])).toBe(true);
    const err = await flood.ended;
    clearInterval(pump);

    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/^cut off: it sent status updates over the limit of \d+\/s for a node with 0 tasks/);
    const logged = warnings.find((w) => w.obj.node === flooder.nodeId);
    expect(logged?.msg).toBe('node cut off for flooding its session');
    expect(logged?.obj).toMatchObject({ reason: expect.stringMatching(/^sent status updates over the limit of/) });
    expect(logged?.obj.refusedForMs).toBe(BACKOFF_MS);
    expect(cutOffs).toEqual(['flood']);
    expect(sent).toBeGreaterThan(1);
    // Cut off, not down: its status says why (a node.down event, disconnected), and its tasks are left alone.
    await expect
      .poll(async () => (await nodeStatus(flooder.nodeId))?.message, { timeout: 5_000 })
      .toMatch(/^cut off: it sent status updates/);
    expect((await nodeStatus(flooder.nodeId))?.state).toBe(NodeStatus_State.STATE_DISCONNECTED);
    // Nothing of what it sent was kept.
    expect(dispatcher.stats().pendingStatuses).toBeLessThanOrEqual(1);

    // Its agent, back at once (well within the backoff, however slow the checks below are): refused, and told why
    // and when it may come back; taken after the backoff (within the grace: it was never marked down).
    const told: string[] = [];
    const back = new AgentSession(
      { ...flooder, managers: [`127.0.0.1:${port}`] },
      { backoffMs: { first: 50, max: 200 }, onCutOff: (reason) => told.push(reason) },
    );
    agents.push(back);
    back.start();

    // The other node: its report was written, its heartbeats go on, its session was never touched.
    await expect.poll(() => taskState('good-1'), { timeout: 5_000 }).toBe(TaskState.TASK_STATE_RUNNING);
    await expect.poll(() => goodAgent.heartbeatsSent, { timeout: 5_000 }).toBeGreaterThan(beatsBefore + 2);
    expect(goodAgent.sessions).toBe(1);
    expect(goodAgent.hearsLeader()).toBe(true);
    expect((await nodeStatus(good.nodeId))?.state).toBe(NodeStatus_State.STATE_READY);

    await expect.poll(() => told.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(told[0]).toMatch(/was cut off \(it sent status updates .*\): it may open a session again in \d+ ms$/);
    await expect
      .poll(async () => (await nodeStatus(flooder.nodeId))?.state, { timeout: 5_000 })
      .toBe(NodeStatus_State.STATE_READY);
    expect(back.sessions).toBe(1);
  });

  it('ignores status reports about tasks not assigned to the sender: never written, never held', async () => {
    const owner = await join();
    const other = await join();
    await createTask(task('owned-1', owner.nodeId));
    const refusedBefore = dispatcher.statuses.stats.refused;
    const raw = rawSession(other);
    raw.stream.on('data', () => undefined);
    const running = { state: TaskState.TASK_STATE_RUNNING, timestampMs: 1n, message: '', error: '', exitCode: 0 };
    const updates = [
      { taskId: 'owned-1', status: running },
      ...Array.from({ length: 300 }, (_, i) => ({ taskId: `nobody-${i}`, status: running })),
    ];
    raw.stream.write({ status: { updates } });
    await expect.poll(() => dispatcher.statuses.stats.refused, { timeout: 5_000 }).toBe(refusedBefore + 301);
    expect(dispatcher.stats().pendingStatuses).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await taskState('owned-1')).toBe(TaskState.TASK_STATE_ASSIGNED);
    expect(await store.get('tasks', 'nobody-0')).toBeUndefined();
    raw.stream.end();
  });

  it('closes the session of a node that does not read its stream once it is behind past the bound; others keep receiving assignments', async () => {
    const reader = await join();
    const received: Assignments[] = [];
    const readerAgent = agent(reader, received);
    await expect.poll(() => received.length, { timeout: 5_000 }).toBeGreaterThan(0);

    const stuck = await join();
    const proxy = await stallingProxy();
    const raw = rawSession(stuck, `127.0.0.1:${proxy.port}`);
    raw.stream.on('data', () => undefined);
    // It heartbeats (so it is not silent) but, once stalled, reads nothing more.
    const beat = setInterval(() => raw.stream.write({ heartbeat: { sentAtMs: BigInt(Date.now()) } }), PERIOD / 2);
    try {
      await expect.poll(() => dispatcher.connectedNodes(), { timeout: 5_000 }).toContain(stuck.nodeId);
      proxy.stall();
      // Far more than HTTP/2's window: 120 tasks of 64 KiB each, one transaction each, for the node that does not
      // read, and one task for the node that does now and then.
      const big = ['X='.padEnd(64 * 1024, 'x')];
      let held = 0;
      for (let i = 0; i < 120; i++) {
        await createTask(task(`stuck-${i}`, stuck.nodeId, big));
        if (i % 30 === 0) await createTask(task(`read-${i}`, reader.nodeId));
        held = Math.max(held, dispatcher.stats().heldMessages);
      }
      // Held back: one message per kind at most, however many changes came.
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(5);
      await expect
        .poll(async () => (await nodeStatus(stuck.nodeId))?.message, { timeout: MAX_BEHIND_MS + 5_000 })
        .toMatch(/^session closed: it does not read its session: behind for \d+ ms \(limit 1500 ms\)/);
      expect(dispatcher.connectedNodes()).not.toContain(stuck.nodeId);
      expect(cutOffs).toEqual(['flood', 'behind']);
      expect(warnings.some((w) => w.obj.node === stuck.nodeId && /does not read/.test(w.msg))).toBe(true);
      // The reading node got every task of its own, and keeps its session.
      const ids = () => received.flatMap((r) => r.tasks.map((t) => t.id));
      await expect
        .poll(ids, { timeout: 5_000 })
        .toEqual(expect.arrayContaining(['read-0', 'read-30', 'read-60', 'read-90']));
      expect(ids().some((id) => id.startsWith('stuck-'))).toBe(false);
      expect(readerAgent.sessions).toBe(1);
      expect(readerAgent.state).toBe('connected');
    } finally {
      clearInterval(beat);
      proxy.close();
    }
  });

  it('an agent holds a bounded number of unread batches toward the manager: the caller keeps the rest', async () => {
    const creds = await join();
    const a = agent(creds);
    await expect.poll(() => a.state, { timeout: 5_000 }).toBe('connected');
    const update = (i: number) => ({
      taskId: `mine-${i}`,
      status: { state: TaskState.TASK_STATE_RUNNING, message: 'm'.repeat(1024) },
    });
    // A thousand batches at once: the stream holds a bounded number unread, the rest is refused, not queued.
    let taken = 0;
    for (let i = 0; i < 1_000; i++) if (a.reportStatus([update(i)])) taken++;
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThanOrEqual(MAX_UNREAD_BATCHES + 1);
    // Once the manager has read them, the stream takes reports again, and the session is the same.
    await expect.poll(() => a.reportStatus([update(0)]), { timeout: 5_000 }).toBe(true);
    expect(a.sessions).toBe(1);
  });

  it('keeps nothing about nodes once they are removed and their tasks gone', async () => {
    for (const a of agents.splice(0)) a.stop();
    for (const c of clients.splice(0)) c.close();
    const nodes = (await store.list('nodes')).items;
    // Before: something kept for each node that held a session or tasks.
    const before = dispatcher.stats();
    expect(before.heartbeats).toBeGreaterThanOrEqual(6);
    expect(before.nodeStatuses).toBeGreaterThanOrEqual(6);
    expect(before.nodesWithTasks).toBeGreaterThanOrEqual(3);
    await store.batch([
      ...nodes.map((n) => ({ op: 'delete' as const, kind: 'nodes' as const, id: n.id })),
      ...created.map((id) => ({ op: 'delete' as const, kind: 'tasks' as const, id })),
    ]);
    await expect
      .poll(() => dispatcher.stats(), { timeout: 5_000 })
      .toEqual({
        sessions: 0,
        heartbeats: 0,
        nodeStatuses: 0,
        cutOffNodes: 0,
        nodesWithTasks: 0,
        pendingStatuses: 0,
        heldMessages: 0,
      });
  });
});
