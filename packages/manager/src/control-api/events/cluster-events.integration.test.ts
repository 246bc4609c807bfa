import {
  type ClusterEvent,
  ControlServiceClient,
  type EventsRequest,
  NodeSpec_Availability,
  type Task,
  TaskState,
} from '@flotilla/api';
import { EVENTS_KEY, nodeUserName, whenReady } from '@flotilla/events';
import { createKeyAndCsr, MANAGER_SERVER_NAME } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { type HollowNodes, ManagedProcess, startRedis } from '@flotilla/testing';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisTestCluster, startRedisTestCluster } from '../../../test/redis-test-cluster.js';
import { readyHollowNodes, startTestCluster, type TestCluster } from '../../../test/test-cluster.js';

// Real etcd, Redis as the cluster runs it (TLS only, certificates of the cluster CA, the managers' password, a user
// per node), a manager and hollow nodes: the leader writes what happens to the event log as the managers' user,
// and the Events RPC reads it back (stored, then followed), filtered.
let cluster: RedisTestCluster;
let hollow: HollowNodes;

const STACK = `
services:
  web:
    image: nginx:1
    environment:
      API_TOKEN: not-for-events
    deploy:
      replicas: 2
  broken:
    image: broken:1
    deploy:
      replicas: 1
      restart_policy:
        condition: none
`;

beforeAll(async () => {
  cluster = await startRedisTestCluster('events');
  hollow = await readyHollowNodes(cluster.manager, 2, 'ev', { failImages: ['broken:1'] });
});

afterAll(async () => {
  hollow?.stop();
  await cluster?.stop();
  await ManagedProcess.stopAll();
});

interface Reading {
  events: ClusterEvent[];
  /** Resolves when the stream ends: with undefined, or the error it ended with. */
  ended: Promise<ServiceError | undefined>;
  cancel(): void;
}

function read(control: TestCluster['control'], request: Partial<EventsRequest>): Reading {
  const call = control.events(
    { sinceMs: 0n, untilMs: 0n, types: [], services: [], nodes: [], ...request },
    new Metadata(),
  );
  const events: ClusterEvent[] = [];
  call.on('data', (response: { events: ClusterEvent[] }) => events.push(...response.events));
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (err: ServiceError) => resolve(err));
    call.on('end', () => resolve(undefined));
  });
  return { events, ended, cancel: () => call.cancel() };
}

/** Every stored event up to now that matches, read to the end of the call (until in the past). */
async function stored(request: Partial<EventsRequest> = {}, control = cluster.control): Promise<ClusterEvent[]> {
  const reading = read(control, { untilMs: BigInt(Date.now() - 600), ...request });
  const err = await reading.ended;
  if (err) throw new Error(err.details);
  return reading.events;
}

async function tasks(service: string): Promise<Task[]> {
  return (await cluster.rpc(cluster.control.listTasks, { service, stack: '', node: '' })).tasks;
}

async function running(service: string): Promise<number> {
  return (await tasks(service)).filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING).length;
}

const summary = (e: ClusterEvent) => `${e.type} ${e.action} ${e.actorName}`;

describe('events through the control API', () => {
  it('reads back what a deploy and a scale did: services, tasks with nodes and exit codes, nodes, the leader', async () => {
    await cluster.rpc(cluster.control.deployStack, {
      stack: toStackSpec(loadStackText(STACK).stack, 'events'),
      prune: false,
    });
    await expect.poll(() => running('events_web'), { timeout: 15_000 }).toBe(2);
    await cluster.rpc(cluster.control.scaleService, { service: 'events_web', replicas: 3n });
    await expect.poll(() => running('events_web'), { timeout: 15_000 }).toBe(3);
    const webTasks = await tasks('events_web');

    // Events reach Redis through the leader's buffer: wait until the last one is there.
    await expect
      .poll(
        async () =>
          (await stored({ types: ['task'], services: ['events_web'] })).filter((e) => e.action === 'running').length,
        {
          timeout: 10_000,
        },
      )
      .toBe(3);
    const all = await stored();
    const lines = all.map(summary);
    expect(lines).toContain(`leader change `);
    expect(lines).toEqual(expect.arrayContaining(['node ready ev-0', 'node ready ev-1']));
    const created = all.find((e) => e.type === 'service' && e.action === 'create' && e.actorName === 'events_web');
    expect(created?.attributes).toMatchObject({ version: '1', replicas: '2' });
    const scaled = all.find((e) => e.type === 'service' && e.action === 'update' && e.actorName === 'events_web');
    expect(scaled?.attributes).toMatchObject({ version: '1', replicas: '3' });
    expect(all.indexOf(created as ClusterEvent)).toBeLessThan(all.indexOf(scaled as ClusterEvent));

    // Each web task ran on a node of the cluster, named by service and slot.
    const nodeIds = new Set(hollow.nodes.map((n) => n.credentials.nodeId));
    const runningEvents = all.filter(
      (e) => e.type === 'task' && e.action === 'running' && e.actorName.startsWith('events_web.'),
    );
    expect(new Set(runningEvents.map((e) => e.actorId))).toEqual(new Set(webTasks.map((t) => t.id)));
    for (const e of runningEvents) expect(nodeIds.has(e.attributes.node ?? '')).toBe(true);

    // The broken task failed with the runtime's exit code.
    const failed = all.find((e) => e.type === 'task' && e.action === 'failed' && e.actorName === 'events_broken.1');
    expect(failed?.attributes).toMatchObject({ exitCode: '1', from: expect.any(String) });
    expect(nodeIds.has(failed?.attributes.node ?? '')).toBe(true);

    // Nothing from the spec's environment goes into an event.
    expect(JSON.stringify(all, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('not-for-events');
  });

  it('reads back certificate renewals and revocations, with no key in them', async () => {
    await cluster.manager.renewer.renewNow();
    await cluster.rpc(cluster.control.revokeOperator, { operatorId: 'opevents1' });
    await expect
      .poll(async () => (await stored({ types: ['certificate'] })).map((e) => `${e.action} ${e.actorId}`), {
        timeout: 10_000,
      })
      .toEqual([`renew ${cluster.manager.identity.nodeId}`, 'revoke opevents1']);
    const [renewed, revoked] = await stored({ types: ['certificate'] });
    expect(renewed?.attributes).toMatchObject({ role: 'manager', expires: expect.stringMatching(/^\d{4}-/) });
    expect(revoked?.attributes).toEqual({ role: 'operator', reason: 'operator revoked' });
    expect(JSON.stringify(renewed?.attributes)).not.toContain('PRIVATE');
  });

  it('filters by type, service and node', async () => {
    const services = await stored({ types: ['service'] });
    expect(services.length).toBeGreaterThan(0);
    expect(services.every((e) => e.type === 'service')).toBe(true);
    const web = await stored({ services: ['events_web'] });
    expect(new Set(web.map((e) => e.type))).toEqual(new Set(['service', 'task']));
    expect(web.every((e) => e.actorName.startsWith('events_web'))).toBe(true);
    const onNode = await stored({ nodes: ['ev-0'] });
    const ev0 = hollow.nodes[0]?.credentials.nodeId;
    expect(onNode.length).toBeGreaterThan(0);
    expect(onNode.every((e) => e.actorId === ev0 || e.attributes.node === ev0)).toBe(true);
  });

  it('follows new events until the caller cancels: a drain comes as it happens', async () => {
    const reading = read(cluster.control, { types: ['node'] });
    // The follow starts at the newest event: give it a moment to be reading before the change.
    await new Promise((r) => setTimeout(r, 300));
    await cluster.rpc(cluster.control.updateNode, {
      node: 'ev-1',
      availability: NodeSpec_Availability.AVAILABILITY_DRAIN,
      labelAdd: {},
      labelRm: [],
    });
    await expect.poll(() => reading.events.map(summary), { timeout: 10_000 }).toContain('node drain ev-1');
    expect(reading.events.every((e) => e.type === 'node')).toBe(true);
    reading.cancel();
    expect((await reading.ended)?.code).toBe(status.CANCELLED);
  });

  it('ends the follow of an operator revoked meanwhile, and only that one', async () => {
    const { ca } = cluster.manager.identity;
    const keys = await createKeyAndCsr();
    const certPem = await ca.issue({ csrPem: keys.csrPem, nodeId: 'opfollow1', role: 'operator' });
    const revokedClient = new ControlServiceClient(
      cluster.manager.address,
      credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keys.keyPem), Buffer.from(certPem)),
      { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
    );
    const theirs = read(revokedClient, { types: ['node'] });
    const ours = read(cluster.control, { types: ['node'] });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await cluster.rpc(cluster.control.revokeOperator, { operatorId: 'opfollow1' });
      expect(await theirs.ended).toMatchObject({
        code: status.PERMISSION_DENIED,
        details: expect.stringContaining('revoked'),
      });
      // The other operator's follow goes on and still receives what happens.
      await cluster.rpc(cluster.control.updateNode, {
        node: 'ev-1',
        availability: NodeSpec_Availability.AVAILABILITY_ACTIVE,
        labelAdd: {},
        labelRm: [],
      });
      await expect.poll(() => ours.events.map(summary), { timeout: 10_000 }).toContain('node active ev-1');
    } finally {
      ours.cancel();
      theirs.cancel();
      revokedClient.close();
    }
    expect((await ours.ended)?.code).toBe(status.CANCELLED);
  });

  it('says a service was updated to a new version, then rolled back', async () => {
    await cluster.rpc(cluster.control.updateService, {
      service: 'events_web',
      image: 'nginx:2',
      envAdd: [],
      envRm: [],
      force: false,
    });
    await cluster.rpc(cluster.control.rollbackService, { service: 'events_web' });
    const changes = async () =>
      (await stored({ services: ['events_web'], types: ['service'] })).map(
        (e) => `${e.action} ${e.attributes.version}`,
      );
    await expect.poll(changes, { timeout: 10_000 }).toEqual(expect.arrayContaining(['update 2', 'rollback 3']));
    const list = await changes();
    expect(list.indexOf('update 2')).toBeLessThan(list.indexOf('rollback 3'));
  });

  it('stops at until, and refuses filters it does not know', async () => {
    const reading = read(cluster.control, { sinceMs: BigInt(Date.now() - 60_000), untilMs: BigInt(Date.now() + 300) });
    expect(await reading.ended).toBeUndefined();
    const bad = read(cluster.control, { types: ['container'] });
    expect(await bad.ended).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('container'),
    });
  });
});

/** The message a command was refused with. */
async function refusal(command: Promise<unknown>): Promise<string> {
  const err = await command.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message;
}

describe('the event log in Redis as the cluster runs it', () => {
  it("is written and read by the managers as the managers' user, and no Redis warning is given", async () => {
    const managers = cluster.managersRedis();
    await whenReady(managers, 5_000);
    const clients = ((await managers.call('CLIENT', 'LIST')) as string).split('\n');
    for (const name of ['flotilla-manager-event-log', 'flotilla-manager-events']) {
      const connected = clients.filter((l) => l.includes(` name=${name} `));
      expect(connected.length).toBeGreaterThan(0);
      expect(connected.every((l) => l.includes(' user=default '))).toBe(true);
    }
    const { warnings } = await cluster.rpc(cluster.control.getCluster, {});
    expect(warnings.filter((w) => /redis/i.test(w))).toEqual([]);
  });

  it('gives each node a Redis user of its own, which can neither read nor forge the event log', async () => {
    const managers = cluster.managersRedis();
    await whenReady(managers, 5_000);
    const users = hollow.nodes.map((n) => nodeUserName(n.credentials.nodeId));
    await expect
      .poll(async () => (await managers.call('ACL', 'USERS')) as string[], { timeout: 10_000 })
      .toEqual(expect.arrayContaining(users));
    for (const node of hollow.nodes) {
      const own = cluster.nodeRedis(node.credentials);
      await whenReady(own, 5_000);
      expect(await refusal(own.xrange(EVENTS_KEY, '-', '+'))).toMatch(/^NOPERM/);
      expect(await refusal(own.xadd(EVENTS_KEY, '*', 'e', 'forged'))).toMatch(/^NOPERM/);
    }
    const entries = await managers.xrange(EVENTS_KEY, '-', '+');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.some(([, fields]) => fields.includes('forged'))).toBe(false);
  });
});

// The plaintext fallback is still supported: events flow as before, and the managers say what is unsafe.
describe('events with Redis in plaintext', () => {
  it('reads back what the leader wrote, and warns that any node can read and forge it', async () => {
    const password = 'events-plain-s3cret';
    const plainRedis = await startRedis({ password });
    let plain: TestCluster | undefined;
    try {
      plain = await startTestCluster('events-plain', { redis: { address: `127.0.0.1:${plainRedis.port}`, password } });
      const control = plain.control;
      await expect
        .poll(async () => (await stored({ types: ['leader'] }, control)).map(summary), { timeout: 10_000 })
        .toEqual(['leader change ']);
      const { warnings } = await plain.rpc(control.getCluster, {});
      expect(warnings.join('\n')).toMatch(/Redis is reached in plaintext.*any node can read and forge.*--redis-tls/);
    } finally {
      await plain?.stop();
      await plainRedis.destroy();
    }
  });
});

describe('events without Redis', () => {
  it('says to start the managers with --redis', async () => {
    const plain = await startTestCluster('events-off');
    try {
      const err = await read(plain.control, {}).ended;
      expect(err?.code).toBe(status.FAILED_PRECONDITION);
      expect(err?.details).toContain('--redis');
    } finally {
      await plain.stop();
    }
  });
});
