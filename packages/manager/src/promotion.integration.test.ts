import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { joinCluster, type RunningAgent, startAgent } from '@flotilla/agent';
import {
  type ControlServiceClient,
  type ListNodesResponse,
  NodeSpec_Role,
  type Promotion,
  type Task,
  TaskState,
} from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, processStack, rpc, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import { PROMOTION_TTL_MS, recordPromotion } from './cluster/promotions.js';
import { PromotedManager } from './promoted-manager.js';

// `node promote`: a node whose agent may run a manager (--manager-listen) is sent a one-time credential over its
// session and its process starts a manager that joins; the agent and its tasks run on throughout, through a
// demotion, and through the original manager's loss (the promoted one leads then).
let cluster: TestCluster;
let promotable: RunningAgent;
let plain: RunningAgent | undefined;
let promoted: PromotedManager;
let originalStopped = false;
const promotions: Promotion[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let agentDir: string;
let managerAddress: string;

/** Node A's agent, which may run a manager, and that manager (started again from its state, after a restart). */
async function startPromotable(join?: { manager: string; token: string }): Promise<void> {
  promoted = new PromotedManager({
    agentStateDir: agentDir,
    listen: managerAddress,
    etcd: { endpoints: [cluster.etcd.url] },
    electionTtlSeconds: 2,
    cliConfigDir: cluster.dir('cli-a'),
  });
  promotable = await startAgent({
    stateDir: agentDir,
    ...(join ? { join } : {}),
    hostname: 'node-a',
    promotion: {
      managerAddress,
      onPromotion: (p) => {
        promotions.push(p);
        promoted.promote(p);
      },
    },
  });
  await promoted.resume();
}

beforeAll(async () => {
  cluster = await startTestCluster('promote', { electionTtlSeconds: 2 });
  const join = { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker };
  agentDir = cluster.dir('agent-a');
  managerAddress = `127.0.0.1:${await freePort()}`;
  await startPromotable(join);
  plain = await startAgent({ stateDir: cluster.dir('agent-b'), join, hostname: 'node-b' });
  await cluster.rpc(cluster.control.deployStack, {
    stack: processStack(
      [
        'services:',
        '  sleeper:',
        '    image: unused',
        '    command: ["sleep", "600"]',
        '    deploy:',
        '      replicas: 4',
        '',
      ].join('\n'),
      'prom',
    ),
    prune: true,
  });
  for (const deadline = Date.now() + 20_000; (await runningOn(promotable)).length !== 2; ) {
    if (Date.now() > deadline) throw new Error('the promotable node runs no two tasks');
    await new Promise((r) => setTimeout(r, 200));
  }
}, 60_000);

afterAll(async () => {
  await promoted?.stop();
  await promotable?.stop();
  await plain?.stop();
  if (originalStopped) {
    cluster.control.close();
    await cluster.etcd.destroy();
  } else await cluster?.stop();
});

async function tasks(): Promise<Task[]> {
  return (await control((c) => rpc(c, c.listTasks, { service: 'prom_sleeper', stack: '', node: '' }))).tasks;
}

/** The IDs of the tasks running on the agent's node. */
async function runningOn(agent: RunningAgent): Promise<string[]> {
  return (await tasks())
    .filter((t) => t.nodeId === agent.credentials.nodeId && t.status?.state === TaskState.TASK_STATE_RUNNING)
    .map((t) => t.id)
    .sort();
}

function leaderAddress(): string {
  return originalStopped ? (promoted.running?.address as string) : cluster.manager.address;
}

/** A control call on the leader with the operator's certificate. */
async function control<T>(call: (c: ControlServiceClient) => Promise<T>): Promise<T> {
  const c = operatorClient(cluster.manager, leaderAddress());
  try {
    return await call(c);
  } finally {
    c.close();
  }
}

const listNodes = () => control((c) => rpc(c, c.listNodes, {}));
const promote = (node: string) => control((c) => rpc(c, c.promoteNode, { node }));

const managerOf = (r: ListNodesResponse, nodeId: string) =>
  r.managers.find((m) => m.manager?.nodeId === nodeId && !m.manager.demoted);

describe('node promote', () => {
  it('is refused, saying what to do, for an agent that cannot run a manager and for an unknown node', async () => {
    await expect(promote('node-b')).rejects.toThrow(/cannot run a manager: restart it with --manager-listen/);
    await expect(promote('no-such-node')).rejects.toThrow(/no node "no-such-node": see flotilla node ls/);
    expect((await listNodes()).managers).toHaveLength(1);
  });

  it("starts a manager in the node's agent process: listed as Reachable, the node's tasks untouched", async () => {
    const before = await runningOn(promotable);
    const nodeId = promotable.credentials.nodeId;
    const { manager } = await promote('node-a');
    expect(manager?.nodeId).toBe(nodeId);
    // The credential never reaches the CLI.
    expect(manager?.promotionSecretHash).toBe('');
    expect(promotions).toHaveLength(1);
    await expect
      .poll(async () => managerOf(await listNodes(), nodeId)?.reachable ?? false, { timeout: 20_000 })
      .toBe(true);
    expect(promoted.running?.identity.nodeId).toBe(manager?.id);
    // Its role is a manager's now: `node.role == manager` constraints match it.
    expect((await cluster.manager.store.get('nodes', nodeId))?.value.spec?.role).toBe(NodeSpec_Role.ROLE_MANAGER);
    expect(await runningOn(promotable)).toEqual(before);
    expect(promotable.session.state).toBe('connected');
    // Already a manager: refused, with the way back.
    await expect(promote(nodeId)).rejects.toThrow(/is a manager already .*flotilla node demote/);
  });

  it('sends a credential that admits one join only: a replay is refused', async () => {
    const sent = promotions[0] as Promotion;
    await expect(
      joinCluster({
        manager: cluster.manager.address,
        token: sent.token,
        stateDir: cluster.dir('replay'),
        asManager: true,
      }),
    ).rejects.toThrow(/join token is not valid/);
    expect((await listNodes()).managers.filter((m) => !m.manager?.demoted)).toHaveLength(2);
  });

  it('demoted, the manager stops and its state goes; the agent and its tasks run on', async () => {
    const before = await runningOn(promotable);
    const nodeId = promotable.credentials.nodeId;
    const { manager } = await control((c) => rpc(c, c.demoteNode, { node: nodeId }));
    expect(manager?.demoted).toBe(true);
    await expect.poll(() => promoted.running === undefined, { timeout: 20_000 }).toBe(true);
    await expect.poll(() => existsSync(promoted.stateDir), { timeout: 20_000 }).toBe(false);
    expect(managerOf(await listNodes(), nodeId)).toBeUndefined();
    expect((await cluster.manager.store.get('nodes', nodeId))?.value.spec?.role).toBe(NodeSpec_Role.ROLE_WORKER);
    expect(await runningOn(promotable)).toEqual(before);
    expect(promotable.session.state).toBe('connected');
    for (const id of before) expect(promotable.worker.states().get(id)).toBe(TaskState.TASK_STATE_RUNNING);
  });

  it('promoted again, it takes over when the original manager is lost; writes go on and no task stops', async () => {
    const before = await runningOn(promotable);
    const nodeId = promotable.credentials.nodeId;
    const { manager } = await promote(nodeId);
    await expect
      .poll(async () => managerOf(await listNodes(), nodeId)?.reachable ?? false, { timeout: 20_000 })
      .toBe(true);
    originalStopped = true;
    await cluster.manager.stop();
    await expect.poll(() => promoted.running?.controlPlane.leading() ?? false, { timeout: 20_000 }).toBe(true);
    const listed = await listNodes();
    expect(managerOf(listed, nodeId)).toMatchObject({ leader: true, manager: { id: manager?.id } });
    // The cluster takes writes through the promoted leader.
    await control((c) => rpc(c, c.scaleService, { service: 'prom_sleeper', replicas: 5n }));
    await expect
      .poll(async () => (await tasks()).filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING).length, {
        timeout: 20_000,
      })
      .toBe(5);
    // The promoted node's tasks were never stopped: the same IDs still run.
    const now = await runningOn(promotable);
    for (const id of before) expect(now).toContain(id);
    // The agent found the new leader (its session moved there) with its tasks running all along.
    await expect.poll(() => promotable.session.state, { timeout: 10_000 }).toBe('connected');
    const local = promotable.worker.states();
    for (const id of before) expect(local.get(id)).toBe(TaskState.TASK_STATE_RUNNING);
  }, 60_000);

  it('refuses a credential past its time', async () => {
    const store = (promoted.running as NonNullable<typeof promoted.running>).store;
    const ca = (promoted.running as NonNullable<typeof promoted.running>).identity.ca;
    const late = Date.now() - PROMOTION_TTL_MS - 1_000;
    const { token } = await recordPromotion(
      store,
      { id: 'nodeless', hostname: 'gone', managerAddress: '127.0.0.1:1' },
      ca.fingerprint,
      late,
    );
    await expect(
      joinCluster({ manager: leaderAddress(), token, stateDir: cluster.dir('late'), asManager: true }),
    ).rejects.toThrow(/promotion has expired.*promote the node again/);
  });

  it("a promoted node's agent restarted: its manager starts again from its state and leads again", async () => {
    const id = promoted.running?.identity.nodeId;
    await promoted.stop();
    await promotable.stop();
    await startPromotable();
    expect(promoted.running?.identity.nodeId).toBe(id);
    await expect.poll(() => promoted.running?.controlPlane.leading() ?? false, { timeout: 20_000 }).toBe(true);
    expect(managerOf(await listNodes(), promotable.credentials.nodeId)).toMatchObject({ leader: true });
  }, 60_000);

  it('is refused for a node that is down', async () => {
    const b = plain as RunningAgent;
    plain = undefined;
    await b.stop();
    await expect
      .poll(() => promote('node-b').catch((err: Error) => err.message), { timeout: 20_000 })
      .toMatch(/node-b is down .*start its agent/);
  });

  it('node rm of a node that runs a manager is refused; with --force its manager is demoted with it', async () => {
    const running = promoted.running as NonNullable<typeof promoted.running>;
    const nodeB = (await listNodes()).nodes.find((n) => n.description?.hostname === 'node-b');
    const id = nodeB?.id as string;
    // node-b's agent is down: a manager record as its promotion would have made it, never joined.
    const { manager } = await recordPromotion(
      running.store,
      { id, hostname: 'node-b', managerAddress: '127.0.0.1:1' },
      running.identity.ca.fingerprint,
    );
    await expect(control((c) => rpc(c, c.removeNode, { node: id, force: false }))).rejects.toThrow(
      new RegExp(`runs manager ${manager.id}: demote it first`),
    );
    await control((c) => rpc(c, c.removeNode, { node: id, force: true }));
    expect(await running.store.get('nodes', id)).toBeUndefined();
    expect((await running.store.get('managers', manager.id))?.value.demoted).toBe(true);
  });
});
