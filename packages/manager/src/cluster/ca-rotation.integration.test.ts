import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type RunningAgent, startAgent } from '@flotilla/agent';
import {
  type ControlServiceClient,
  Node,
  NodeCaServiceClient,
  NodeStatus_State,
  type Task,
  TaskState,
} from '@flotilla/api';
import {
  CertificateAuthority,
  caFingerprint,
  createKeyAndCsr,
  issuedBy,
  MANAGER_SERVER_NAME,
  parseJoinToken,
} from '@flotilla/pki';
import { CLUSTER_KEY } from '@flotilla/store';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, processStack, rpc, startTestCluster, type TestCluster } from '../../test/test-cluster.js';
import type { RunningManager } from '../manager.js';

// A CA rotation on a real etcd with two managers and two agents (process executor) over loopback: every node and
// manager moves to the new CA while its session, its tasks and its readiness carry on.
let cluster: TestCluster;
let second: RunningManager;
let secondDir: string;
const agents: RunningAgent[] = [];

beforeAll(async () => {
  cluster = await startTestCluster('carot', { electionTtlSeconds: 2 });
  secondDir = cluster.dir('m2');
  control = cluster.control;
  second = await cluster.joinManager('m2');
  for (const label of ['rot1', 'rot2']) {
    agents.push(
      await startAgent({
        stateDir: cluster.dir(label),
        join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
        hostname: label,
      }),
    );
  }
});

afterAll(async () => {
  if (control !== cluster?.control) control?.close();
  for (const agent of agents) await agent.stop();
  await second?.stop();
  await cluster?.stop();
});

/** The control client: the test cluster's, then (its certificate refused after a rotation) one made anew. */
let control: ControlServiceClient;

/** A control client with the CLI certificate the manager holds now, once the CA that issues now issued it. */
async function freshControl(manager: RunningManager): Promise<ControlServiceClient> {
  await expect
    .poll(() => issuedBy(manager.identity.operator.certPem, manager.identity.ca.issuerPem), { timeout: 5_000 })
    .toBe(true);
  control?.close();
  control = operatorClient(manager, manager.address);
  return control;
}

async function running(service: string): Promise<Task[]> {
  const { tasks } = await rpc(control, control.listTasks, { service, stack: '', node: '' });
  return tasks.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
}

/** Renew with a given certificate; resolves with the gRPC error, or undefined when a certificate was issued. */
async function renewWith(certPem: string, keyPem: string, trustPem: string): Promise<ServiceError | undefined> {
  const client = new NodeCaServiceClient(
    cluster.manager.address,
    credentials.createSsl(Buffer.from(trustPem), Buffer.from(keyPem), Buffer.from(certPem)),
    { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
  );
  const { csrPem } = await createKeyAndCsr();
  try {
    return await new Promise((resolve) =>
      client.renew({ csrPem }, new Metadata(), { deadline: Date.now() + 5_000 }, (err) => resolve(err ?? undefined)),
    );
  } finally {
    client.close();
  }
}

describe('CA rotation', () => {
  it('moves every node and manager to a new CA: sessions kept, nodes ready, tasks running; then the old CA is refused', async () => {
    const { manager } = cluster;
    const oldRoot = manager.identity.ca.certPem;
    const oldKey = manager.identity.caKeyPem;
    const oldTokens = { ...manager.identity.tokens };
    await expect.poll(() => agents.every((a) => a.session.state === 'connected'), { timeout: 10_000 }).toBe(true);
    // Both managers are candidates: the rotation waits for each.
    await expect.poll(() => manager.controlPlane.members().length, { timeout: 10_000 }).toBe(2);
    await cluster.rpc(cluster.control.deployStack, {
      stack: processStack(
        'services:\n  sleeper:\n    image: unused\n    command: ["sleep", "300"]\n    deploy:\n      replicas: 2\n',

        'rot',
      ),
      prune: true,
    });
    await expect.poll(async () => (await running('rot_sleeper')).length, { timeout: 15_000 }).toBe(2);
    const taskIds = (await running('rot_sleeper')).map((t) => t.id).sort();
    const sessions = agents.map((a) => a.session.sessions);

    const { rotation } = await cluster.rpc(cluster.control.rotateCa, { force: false });
    expect(rotation?.total).toBe(4); // two nodes, two managers
    const newFingerprint = rotation?.newFingerprint as string;
    expect(newFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(newFingerprint).not.toBe(caFingerprint(oldRoot));
    // A second rotation while one is under way is refused, saying what to do.
    await expect(cluster.rpc(cluster.control.rotateCa, { force: false })).rejects.toThrow(
      /a CA rotation is under way.*cluster inspect.*--force/,
    );

    // Sampled until the rotation ends: the sessions stay the same ones and every node stays ready.
    const states = new Set<string>();
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const current = await manager.store.get('clusters', CLUSTER_KEY);
      if (current?.value.caRotation) {
        // With the first CA's operator certificate: refused once the rotation has ended.
        const inspected = await cluster.rpc(cluster.control.getCluster, {}).catch(() => undefined);
        if (inspected?.caRotation) seen.add(`${inspected.caRotation.renewed} of ${inspected.caRotation.total}`);
      } else if (current && caFingerprint(current.value.caCertPem) === newFingerprint) break;
      for (const agent of agents) {
        states.add(agent.session.state);
        const node = await manager.store.get('nodes', agent.credentials.nodeId);
        states.add(NodeStatus_State[node?.value.status?.state ?? 0] as string);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = (await manager.store.get('clusters', CLUSTER_KEY))?.value;
    expect(after?.caRotation).toBeUndefined();
    expect(caFingerprint(after?.caCertPem ?? '')).toBe(newFingerprint);
    expect([...states].sort()).toEqual(['STATE_READY', 'connected']);
    expect([...seen].some((s) => s.endsWith('of 4'))).toBe(true);
    expect(agents.map((a) => a.session.sessions)).toEqual(sessions);
    await freshControl(manager);
    expect((await running('rot_sleeper')).map((t) => t.id).sort()).toEqual(taskIds);

    // Every node and manager holds a certificate of the new CA, and trusts only it once the managers follow.
    for (const agent of agents) expect(issuedBy(agent.credentials.certPem, after?.caCertPem ?? '')).toBe(true);
    for (const m of [manager, second]) {
      await expect.poll(() => m.identity.ca.fingerprint, { timeout: 5_000 }).toBe(newFingerprint);
      expect(issuedBy(m.identity.certPem, m.identity.ca.certPem)).toBe(true);
    }
    await expect
      .poll(() => agents.every((a) => a.credentials.caCertPem.trim() === after?.caCertPem.trim()), { timeout: 5_000 })
      .toBe(true);
    // Each manager keeps the new CA in its state directory, the key 0600.
    await expect.poll(() => readFileSync(path.join(secondDir, 'ca.crt'), 'utf8').trim()).toBe(after?.caCertPem.trim());
    expect(statSync(path.join(secondDir, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(secondDir, 'ca.key'), 'utf8')).toBe(second.identity.caKeyPem);
    // New join tokens pin the new CA; the old ones are refused.
    const tokens = second.identity.tokens;
    expect(parseJoinToken(tokens.worker).caFingerprint).toBe(newFingerprint);
    expect(tokens.worker).not.toBe(oldTokens.worker);

    // A certificate of the old CA (even for a node of the cluster) is refused from now on.
    const old = await CertificateAuthority.load(oldRoot, oldKey);
    const { keyPem, csrPem } = await createKeyAndCsr();
    const stale = await old.issue({ csrPem, nodeId: agents[0]?.credentials.nodeId as string, role: 'worker' });
    const refused = await renewWith(stale, keyPem, manager.identity.ca.trustPem);
    expect(refused?.details).toMatch(/untrusted/);
    // While the new CA's certificates pass.
    const fresh = agents[1] as RunningAgent;
    expect(await renewWith(fresh.credentials.certPem, fresh.credentials.keyPem, manager.identity.ca.trustPem)).toBe(
      undefined,
    );
    // The CLI's certificate was issued again by the new CA: a client made from it works.
    const inspected = await rpc(control, control.getCluster, {});
    expect(inspected.caFingerprint).toBe(newFingerprint);
    expect(inspected.caRotation).toBeUndefined();
  }, 60_000);

  it('waits for no node marked down (it is refused afterwards); --force ends a rotation that waits on a node', async () => {
    const { manager } = cluster;
    const stray = await startAgent({
      stateDir: cluster.dir('stray'),
      join: { manager: manager.address, token: second.identity.tokens.worker },
      hostname: 'stray',
    });
    agents.push(stray);
    const nodeId = stray.credentials.nodeId;
    await expect.poll(() => stray.session.state, { timeout: 10_000 }).toBe('connected');
    // Cut off: marked down after the heartbeat grace; a rotation then goes on without it.
    stray.session.suspend();
    await expect
      .poll(async () => (await manager.store.get('nodes', nodeId))?.value.status?.state, { timeout: 10_000 })
      .toBe(NodeStatus_State.STATE_DOWN);
    const { rotation } = await rpc(control, control.rotateCa, { force: false });
    expect(rotation?.pendingIds).not.toContain(nodeId);
    await expect
      .poll(async () => caFingerprint((await manager.store.get('clusters', CLUSTER_KEY))?.value.caCertPem ?? ''), {
        timeout: 20_000,
      })
      .toBe(rotation?.newFingerprint);
    for (const m of [manager, second])
      await expect.poll(() => m.identity.ca.fingerprint, { timeout: 5_000 }).toBe(rotation?.newFingerprint);
    // Back after the end: its certificate of the old CA is refused, so it never gets a session again.
    const sessions = stray.session.sessions;
    stray.session.resume();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(stray.session.sessions).toBe(sessions);
    expect(stray.session.state).toBe('connecting');
    // The other nodes carried on.
    for (const agent of agents.slice(0, 2)) expect(agent.session.state).toBe('connected');

    // A rotation that waits on a node (a record that no agent renews) ends only with --force; --force with no
    // rotation under way is refused.
    const renewed = await freshControl(manager);
    try {
      await expect(rpc(renewed, renewed.rotateCa, { force: true })).rejects.toThrow(/no CA rotation is under way/);
      const waiting = 'waitingnode1';
      await manager.store.create(
        'nodes',
        waiting,
        Node.fromPartial({ id: waiting, status: { state: NodeStatus_State.STATE_READY } }),
      );
      const started = await rpc(renewed, renewed.rotateCa, { force: false });
      expect(started.rotation?.pendingIds).toContain(waiting);
      const ended = await rpc(renewed, renewed.rotateCa, { force: true });
      expect(ended.rotation?.pendingIds).toContain(waiting);
      const now = (await manager.store.get('clusters', CLUSTER_KEY))?.value;
      expect(now?.caRotation).toBeUndefined();
      expect(caFingerprint(now?.caCertPem ?? '')).toBe(started.rotation?.newFingerprint);
    } finally {
      await manager.store.delete('nodes', 'waitingnode1').catch(() => undefined);
    }
  }, 60_000);
});
