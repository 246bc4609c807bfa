import { AgentSession, joinCluster, type NodeCredentials } from '@flotilla/agent';
import {
  type Assignments,
  DispatcherServiceService,
  FileObjectKind,
  NodeCaServiceService,
  Task,
  TaskState,
} from '@flotilla/api';
import { connectEtcd, Store } from '@flotilla/store';
import { startEtcd, TcpProxy, type TestServer, tempDir } from '@flotilla/testing';
import { Server } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCluster, type ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import { joinService } from '../cluster/join-service.js';
import { managerCredentials } from '../cluster/server-credentials.js';
import { DataKey, sealFileObject } from '../secrets/data-key.js';
import { Dispatcher } from './dispatcher.js';

const PERIOD = 200;

let etcd: TestServer;
let client: Etcd3;
let store: Store;
let identity: ManagerIdentity;
let server: Server;
let dispatcher: Dispatcher;
let port: number;
const dataKey = DataKey.generate();
const warnings: { obj: object; msg: string }[] = [];
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
    gracePeriods: 3,
    managers: () => [],
    dataKey,
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
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

/** An agent's session that keeps every assignments message it gets. */
function agent(creds: NodeCredentials): { session: AgentSession; received: Assignments[] } {
  const received: Assignments[] = [];
  const session = new AgentSession(creds, {
    backoffMs: { first: 50, max: 200 },
    onAssignments: (a) => received.push(a),
  });
  sessions.push(session);
  session.start();
  return { session, received };
}

function task(id: string, nodeId: string, secrets: string[] = []): Task {
  return Task.fromPartial({
    id,
    nodeId,
    serviceId: 'svc',
    desiredState: TaskState.TASK_STATE_RUNNING,
    specVersion: 1n,
    status: { state: TaskState.TASK_STATE_ASSIGNED },
    spec: { image: 'app', secrets: secrets.map((objectId) => ({ source: `app_${objectId}`, objectId })) },
  });
}

async function storeSecret(id: string, content: string): Promise<void> {
  const object = sealFileObject(dataKey, {
    id,
    kind: FileObjectKind.FILE_OBJECT_KIND_SECRET,
    name: `app_${id}`,
    stack: 'app',
    version: 1n,
    content: Buffer.from(content),
  });
  await store.create('files', id, object);
}

const contents = (received: Assignments[]) =>
  received.flatMap((a) => a.files).map((f) => [f.objectId, Buffer.from(f.data).toString()]);
const taskIds = (received: Assignments[]) => received.flatMap((a) => a.tasks.map((t) => t.id));

describe('secrets and configs in sessions', () => {
  it("sends a node the contents of its own tasks' versions once per session, and a node without such a task nothing", async () => {
    const a = await joinedNode();
    const b = await joinedNode();
    await storeSecret('s1', 'pw-one');
    await storeSecret('s2', 'pw-two');
    await store.batch([
      { op: 'create', kind: 'tasks', id: 'a1', value: task('a1', a.creds.nodeId, ['s1']) },
      { op: 'create', kind: 'tasks', id: 'b1', value: task('b1', b.creds.nodeId) },
    ]);
    const agentA = agent(a.creds);
    const agentB = agent(b.creds);
    await expect.poll(() => agentA.received.length, { timeout: 5_000 }).toBeGreaterThan(0);
    await expect.poll(() => agentB.received.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(agentA.received[0]).toMatchObject({ full: true });
    expect(taskIds(agentA.received)).toEqual(['a1']);
    expect(contents(agentA.received)).toEqual([['s1', 'pw-one']]);

    // A second task with the same version, and one with another: only the new content goes.
    await store.create('tasks', 'a2', task('a2', a.creds.nodeId, ['s1', 's2']));
    await expect.poll(() => taskIds(agentA.received), { timeout: 5_000 }).toContain('a2');
    expect(contents(agentA.received)).toEqual([
      ['s1', 'pw-one'],
      ['s2', 'pw-two'],
    ]);

    // A new session starts from nothing: its full set carries every content again, once.
    const before = agentA.received.length;
    await a.proxy.cut();
    await a.proxy.restore();
    await expect.poll(() => agentA.session.sessions, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => agentA.received.slice(before).some((m) => m.full), { timeout: 5_000 }).toBe(true);
    expect(contents(agentA.received.slice(before)).sort()).toEqual([
      ['s1', 'pw-one'],
      ['s2', 'pw-two'],
    ]);

    // B, whose task uses none, got none of it, in any message.
    await new Promise((r) => setTimeout(r, 300));
    expect(agentB.received.flatMap((m) => m.files)).toEqual([]);
    expect(taskIds(agentB.received)).toEqual(['b1']);
    // Nothing of a content in what was logged.
    expect(JSON.stringify(warnings)).not.toMatch(/pw-one|pw-two/);
  });

  it('holds back a task whose version it does not know yet, and sends it with its content once the version is stored', async () => {
    const a = await joinedNode();
    const agentA = agent(a.creds);
    await expect.poll(() => agentA.received.length, { timeout: 5_000 }).toBeGreaterThan(0);
    await store.create('tasks', 'early', task('early', a.creds.nodeId, ['late']));
    await store.create('tasks', 'plain', task('plain', a.creds.nodeId));
    // The task without any goes; the one whose version is not stored yet does not.
    await expect.poll(() => taskIds(agentA.received), { timeout: 5_000 }).toContain('plain');
    await new Promise((r) => setTimeout(r, 300));
    expect(taskIds(agentA.received)).not.toContain('early');
    expect(warnings.some((w) => w.msg.includes('held back') && JSON.stringify(w.obj).includes('early'))).toBe(true);

    await storeSecret('late', 'pw-late');
    await expect.poll(() => taskIds(agentA.received), { timeout: 5_000 }).toContain('early');
    const carrying = agentA.received.find((m) => m.tasks.some((t) => t.id === 'early'));
    // The content comes with the task (or in a message before it), never after.
    const upTo = agentA.received.slice(0, agentA.received.indexOf(carrying as Assignments) + 1);
    expect(contents(upTo)).toContainEqual(['late', 'pw-late']);
    expect(JSON.stringify(warnings)).not.toContain('pw-late');
  });
});
