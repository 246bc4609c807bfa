import {
  ControlServiceClient,
  Node,
  NodeSpec_Role,
  type WatchChange,
  type WatchRequest,
  type WatchResponse,
} from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { ManagedProcess } from '@flotilla/testing';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, startTestCluster, type TestCluster } from '../../test/test-cluster.js';

// Real etcd and a manager whose watches queue at most QUEUED changes: the Watch RPC's snapshot, its changes after
// a scale and a task's removal, no write lost between the two, and the cap on what a caller that does not read
// may leave queued.
const QUEUED = 200;
let cluster: TestCluster;

const STACK = `
services:
  web:
    image: nginx:1
    deploy:
      replicas: 1
`;

beforeAll(async () => {
  cluster = await startTestCluster('watch', { watchQueueLimit: QUEUED });
  const deadline = Date.now() + 10_000;
  while (!cluster.manager.controlPlane.leading() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await cluster.rpc(cluster.control.deployStack, { stack: toStackSpec(loadStackText(STACK).stack, 'w'), prune: false });
});

afterAll(async () => {
  await cluster?.stop();
  await ManagedProcess.stopAll();
});

/** A Watch call, its snapshot (parts joined) and the changes after it, as they come. */
interface Watching {
  snapshot: Promise<{ revision: bigint; nodes: string[]; services: string[]; tasks: string[]; nodeObjects: Node[] }>;
  changes: WatchChange[];
  ended: Promise<ServiceError | undefined>;
  call: ReturnType<TestCluster['control']['watch']>;
}

function watch(request: Partial<WatchRequest> = {}, client = cluster.control): Watching {
  const call = client.watch({ kinds: [], ...request }, new Metadata());
  const changes: WatchChange[] = [];
  const parts = {
    revision: 0n,
    nodes: [] as string[],
    services: [] as string[],
    tasks: [] as string[],
    nodeObjects: [] as Node[],
  };
  let whole: (value: typeof parts) => void = () => undefined;
  const snapshot = new Promise<typeof parts>((resolve) => {
    whole = resolve;
  });
  call.on('data', (response: WatchResponse) => {
    if (response.snapshot) {
      const s = response.snapshot;
      parts.revision = s.revision;
      parts.nodes.push(...s.nodes.map((n) => n.id));
      parts.nodeObjects.push(...s.nodes);
      parts.services.push(...s.services.map((n) => n.id));
      parts.tasks.push(...s.tasks.map((n) => n.id));
      if (!s.more) whole(parts);
    }
    if (response.change) changes.push(response.change);
  });
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (err: ServiceError) => resolve(err));
    call.on('end', () => resolve(undefined));
  });
  return { snapshot, changes, ended, call };
}

const ids = async (kind: 'nodes' | 'services' | 'tasks') =>
  (await cluster.manager.store.list(kind)).items.map((i) => i.id).sort();

describe('the Watch RPC', () => {
  it('sends a snapshot of the store, then a scale as changes of the service and its new tasks', async () => {
    await expect.poll(() => ids('tasks')).toHaveLength(1);
    const w = watch();
    const snapshot = await w.snapshot;
    expect(snapshot.services.sort()).toEqual(await ids('services'));
    expect(snapshot.tasks.sort()).toEqual(await ids('tasks'));
    expect(snapshot.nodes.sort()).toEqual(await ids('nodes'));
    const before = new Set(snapshot.tasks);

    const scaled = await cluster.rpc(cluster.control.scaleService, { service: 'w_web', replicas: 3n });
    await expect
      .poll(() => w.changes.filter((c) => c.kind === 'tasks' && !c.deleted && !before.has(c.id)).map((c) => c.id))
      .toHaveLength(2);
    const service = w.changes.find((c) => c.kind === 'services' && c.id === scaled.service?.id);
    expect(service?.service?.spec?.replicas).toBe(3n);
    expect(service?.deleted).toBe(false);
    // Every change is newer than the snapshot and carries only its own kind's object.
    for (const c of w.changes) {
      expect(c.revision).toBeGreaterThan(snapshot.revision);
      expect([c.node, c.service, c.task].filter(Boolean)).toHaveLength(1);
    }
    w.call.cancel();
  });

  it('sends a removed task as deleted, with no object; only the kinds asked for', async () => {
    const w = watch({ kinds: ['tasks'] });
    const snapshot = await w.snapshot;
    expect(snapshot.services).toEqual([]);
    expect(snapshot.nodes).toEqual([]);
    const victim = snapshot.tasks[0] as string;
    await cluster.manager.store.delete('tasks', victim);
    await expect.poll(() => w.changes.find((c) => c.id === victim && c.deleted)).toBeTruthy();
    const gone = w.changes.find((c) => c.id === victim && c.deleted);
    expect(gone?.task).toBeUndefined();
    expect(w.changes.every((c) => c.kind === 'tasks')).toBe(true);
    w.call.cancel();
  });

  it('loses no write made while the call reads its snapshot and starts its watches', async () => {
    const store = cluster.manager.store;
    const node = (i: number, round: number) =>
      Node.fromPartial({ id: `gap-${i}`, spec: { role: NodeSpec_Role.ROLE_WORKER, labels: { round: String(round) } } });
    let writing = true;
    let round = 0;
    const writer = (async () => {
      while (writing) {
        round++;
        await store.batch(
          Array.from({ length: 5 }, (_, i) => ({ op: 'put', kind: 'nodes', id: `gap-${i}`, value: node(i, round) })),
        );
      }
    })();
    // Calls opened while the writes go on: each call's snapshot plus its changes must end where the store ends.
    const calls = Array.from({ length: 5 }, () => watch({ kinds: ['nodes'] }));
    await Promise.all(calls.map((c) => c.snapshot));
    await new Promise((r) => setTimeout(r, 100));
    writing = false;
    await writer;
    for (const c of calls) {
      // Each round is one transaction: after the snapshot's round, every later one comes, in order.
      const seen = (await c.snapshot).nodeObjects.find((n) => n.id === 'gap-0')?.spec?.labels.round;
      const from = Number(seen ?? 0) + 1;
      const expected = Array.from({ length: round - from + 1 }, (_, i) => String(from + i));
      // The manager writes nodes too (their status): the same round may come again, never a round out of order.
      const rounds = () =>
        c.changes
          .filter((change) => change.id === 'gap-0')
          .map((change) => change.node?.spec?.labels.round)
          .filter((r, i, all) => i === 0 || r !== all[i - 1]);
      await expect.poll(rounds).toEqual(expected);
      c.call.cancel();
    }
    await store.batch([0, 1, 2, 3, 4].map((i) => ({ op: 'delete', kind: 'nodes', id: `gap-${i}` })));
  });

  it('ends with RESOURCE_EXHAUSTED a call whose caller stops reading while changes pile up', async () => {
    // On a connection of its own: the one it does not read from stalls (HTTP/2 flow control), as a slow caller's would.
    const { operator, ca } = cluster.manager.identity;
    const own = new ControlServiceClient(
      cluster.manager.address,
      credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem)),
      { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME, 'grpc.use_local_subchannel_pool': 1 },
    );
    const w = watch({ kinds: ['nodes'] }, own);
    await w.snapshot;
    w.call.pause();
    const big = 'x'.repeat(8 * 1024);
    const store = cluster.manager.store;
    // Far more than the caller's flow-control window and the queue hold together.
    const writes = Array.from({ length: QUEUED * 4 }, (_, i) => ({
      op: 'put' as const,
      kind: 'nodes' as const,
      id: `fill-${i}`,
      value: Node.fromPartial({ id: `fill-${i}`, spec: { labels: { big } } }),
    }));
    await store.batch(writes, { inFlight: 4 });
    // The manager's watch brings the burst within milliseconds; the call then holds far more than it may queue.
    await new Promise((r) => setTimeout(r, 1_000));
    w.call.resume();
    const err = await w.ended;
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/call Watch again/);
    // What was queued was dropped: far fewer changes came than were written.
    expect(w.changes.length).toBeLessThan(writes.length);
    await store.batch(
      writes.map((f) => ({ op: 'delete', kind: 'nodes', id: f.id })),
      { inFlight: 4 },
    );
    own.close();
  });

  it('is served by a manager that does not lead (it reads etcd)', async () => {
    const follower = await cluster.joinManager('follower');
    const client = operatorClient(cluster.manager, follower.address);
    try {
      expect(follower.controlPlane.leading()).toBe(false);
      const w = watch({}, client);
      const snapshot = await w.snapshot;
      expect(snapshot.services.sort()).toEqual(await ids('services'));
      expect(snapshot.tasks.sort()).toEqual(await ids('tasks'));
      const service = (await cluster.manager.store.list('services')).items[0];
      await cluster.rpc(cluster.control.scaleService, { service: service?.id ?? '', replicas: 2n });
      await expect
        .poll(() => w.changes.some((c) => c.kind === 'services' && c.service?.spec?.replicas === 2n))
        .toBe(true);
      w.call.cancel();
    } finally {
      client.close();
      await follower.stop();
    }
  });

  it('refuses a kind it does not know', async () => {
    const w = watch({ kinds: ['secrets'] });
    const err = await w.ended;
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/nodes,services,tasks/);
  });
});
