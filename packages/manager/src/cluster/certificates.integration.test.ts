import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { loadCredentials, type RunningAgent, startAgent } from '@flotilla/agent';
import {
  ClusterSettings,
  ControlServiceClient,
  NodeCaServiceClient,
  NodeStatus_State,
  PeerServiceClient,
  type Task,
  TaskState,
} from '@flotilla/api';
import { certificateLife, createKeyAndCsr, MANAGER_SERVER_NAME, readIdentity } from '@flotilla/pki';
import { CLUSTER_KEY } from '@flotilla/store';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStack, startTestCluster, type TestCluster } from '../../test/test-cluster.js';
import type { RunningManager } from '../manager.js';
import { revokeIdentity } from './revocations.js';

// Certificates that renew over the session and revocations every manager applies, on a real etcd and real agents
// (process executor) over loopback. The cluster's certificate life is set in etcd to a few seconds, below what the
// control API allows (1 minute), so that several renewals fit in a test.
let cluster: TestCluster;
let second: RunningManager;

const SHORT_LIFE_MS = 4_000n;

beforeAll(async () => {
  cluster = await startTestCluster('certs', { electionTtlSeconds: 2 });
  second = await cluster.joinManager('m2');
});

afterAll(async () => {
  await second?.stop();
  await cluster?.stop();
});

async function setCertLife(ms: bigint): Promise<void> {
  await cluster.manager.store.modify('clusters', CLUSTER_KEY, (c) => ({
    ...c,
    settings: { ...ClusterSettings.fromPartial(c.settings ?? {}), certExpiryMs: ms },
  }));
}

function join(label: string): Promise<RunningAgent> {
  return startAgent({
    stateDir: cluster.dir(label),
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
    hostname: label,
  });
}

type Unary<Req, Res> = (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, v: Res) => void) => unknown;

/** Calls a unary RPC; resolves with the answer or the gRPC error (never rejects). */
function attempt<C, Req, Res>(client: C, method: Unary<Req, Res>, request: Req): Promise<Res | ServiceError> {
  return new Promise((resolve) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + 5_000 }, (err, value) =>
      resolve(err ?? value),
    ),
  );
}

const tlsWith = (certPem: string, keyPem: string) =>
  credentials.createSsl(Buffer.from(cluster.manager.identity.ca.certPem), Buffer.from(keyPem), Buffer.from(certPem));
const options = { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME };

/** The certificate a manager's port presents to a new connection. */
function servedCertificate(address: string): Promise<X509Certificate> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      servername: MANAGER_SERVER_NAME,
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(raw));
    });
  });
}

async function running(service: string): Promise<Task[]> {
  const { tasks } = await cluster.rpc(cluster.control.listTasks, { service, stack: '', node: '' });
  return tasks.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING);
}

describe('certificate renewal', () => {
  it('renews an agent over its session several times: same node and role, the session never drops, tasks run on', async () => {
    await setCertLife(SHORT_LIFE_MS);
    const agent = await join('renewing');
    try {
      const nodeId = agent.credentials.nodeId;
      const first = new X509Certificate(agent.credentials.certPem);
      const { notBeforeMs, notAfterMs } = certificateLife(first);
      expect(notAfterMs - notBeforeMs).toBe(Number(SHORT_LIFE_MS));
      await cluster.rpc(cluster.control.deployStack, {
        stack: processStack('services:\n  sleeper:\n    image: unused\n    command: ["sleep", "300"]\n', 'renew'),
        prune: true,
      });
      await expect.poll(async () => (await running('renew_sleeper')).length, { timeout: 15_000 }).toBe(1);
      const taskId = (await running('renew_sleeper'))[0]?.id;
      const sessions = agent.session.sessions;
      // Sampled while it renews: the session stays the same one and the node stays ready.
      const states = new Set<string>();
      const deadline = Date.now() + 20_000;
      while (agent.renewer.renewals < 3 && Date.now() < deadline) {
        states.add(agent.session.state);
        const node = await cluster.manager.store.get('nodes', nodeId);
        states.add(NodeStatus_State[node?.value.status?.state ?? 0] as string);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(agent.renewer.renewals).toBeGreaterThanOrEqual(3);
      expect([...states].sort()).toEqual(['STATE_READY', 'connected']);
      expect(agent.session.sessions).toBe(sessions);
      expect((await running('renew_sleeper')).map((t) => t.id)).toEqual([taskId]);

      // A newer certificate for the same node and role, with the new key.
      const kept = agent.credentials;
      const renewed = new X509Certificate(kept.certPem);
      expect(renewed.serialNumber).not.toBe(first.serialNumber);
      expect(readIdentity(renewed)).toEqual(readIdentity(first));
      expect(cluster.manager.identity.ca.verify(renewed)).toEqual({
        nodeId,
        role: 'worker',
        clusterId: cluster.manager.identity.clusterId,
      });
      expect(renewed.checkPrivateKey(createPrivateKey(kept.keyPem))).toBe(true);
    } finally {
      await agent.stop();
      await setCertLife(0n);
    }
  });

  it('a shorter certificate life reaches agents through their sessions: they renew within it', async () => {
    const agent = await join('shortened');
    try {
      const first = certificateLife(agent.credentials.certPem);
      expect(first.notAfterMs - first.notBeforeMs).toBe(90 * 86_400_000);
      await expect.poll(() => agent.session.state).toBe('connected');
      const changedAt = Date.now();
      await setCertLife(SHORT_LIFE_MS);
      await expect.poll(() => agent.renewer.renewals, { timeout: 6_000, interval: 50 }).toBe(1);
      // Within 50-80 % of the new life (and the session's announcement), not 45 days on.
      expect(Date.now() - changedAt).toBeLessThan(Number(SHORT_LIFE_MS));
      const renewed = certificateLife(agent.credentials.certPem);
      expect(renewed.notAfterMs - renewed.notBeforeMs).toBe(Number(SHORT_LIFE_MS));
    } finally {
      await agent.stop();
      await setCertLife(0n);
    }
  });

  it('keeps the renewed pair in the state directory (key 0600), where a restart finds it', async () => {
    await setCertLife(SHORT_LIFE_MS);
    const stateDir = cluster.dir('restarted');
    const agent = await startAgent({
      stateDir,
      join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
    });
    try {
      await expect.poll(() => agent.renewer.renewals, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      const saved = loadCredentials(stateDir);
      expect(saved?.certPem).toBe(agent.credentials.certPem);
      expect(saved?.keyPem).toBe(agent.credentials.keyPem);
      expect(statSync(path.join(stateDir, 'node.key')).mode & 0o777).toBe(0o600);
    } finally {
      await agent.stop();
      await setCertLife(0n);
    }
  });

  it('issues for the caller certificate identity, whatever the request says; no certificate, no renewal', async () => {
    const agent = await join('chooser');
    try {
      const { certPem, keyPem, nodeId } = agent.credentials;
      // A CSR whose subject names a manager (the second one) and the manager role: the CA ignores it.
      const key = path.join(cluster.dir('csr'), 'key.pem');
      execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
      const subject = `/CN=${second.identity.nodeId}/OU=flotilla-manager/O=${cluster.manager.identity.clusterId}`;
      const csrPem = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', subject], { encoding: 'utf8' });
      const ca = new NodeCaServiceClient(cluster.manager.address, tlsWith(certPem, keyPem), options);
      const answer = await attempt(ca, ca.renew, { csrPem });
      ca.close();
      expect(answer).toHaveProperty('certPem');
      const issued = new X509Certificate((answer as { certPem: string }).certPem);
      expect(readIdentity(issued)).toMatchObject({ nodeId, role: 'worker' });

      // Without a client certificate (as a joining node calls), the manager refuses.
      const anonymous = new NodeCaServiceClient(
        cluster.manager.address,
        credentials.createSsl(Buffer.from(cluster.manager.identity.ca.certPem)),
        options,
      );
      const refused = await attempt(anonymous, anonymous.renew, { csrPem: (await createKeyAndCsr()).csrPem });
      anonymous.close();
      expect((refused as ServiceError).details).toContain('needs a certificate of the cluster');
    } finally {
      await agent.stop();
    }
  });

  it('renews a manager certificate in place: new connections get the new one, with the same ID and names', async () => {
    const before = await servedCertificate(cluster.manager.address);
    await cluster.manager.renewer.renewNow();
    const after = await servedCertificate(cluster.manager.address);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(readIdentity(after)).toEqual(readIdentity(before));
    expect(after.subjectAltName).toBe(before.subjectAltName);
    // The operator's calls still go through (the port serves with the new certificate).
    const found = await cluster.rpc(cluster.control.getCluster, {});
    expect(found.id).toBe(cluster.manager.identity.clusterId);
  });
});

describe('revocation', () => {
  it("refuses a removed node's stored certificate on every manager within a second, and closes its session", async () => {
    const agent = await join('removed');
    const { nodeId, certPem, keyPem } = agent.credentials;
    try {
      await expect.poll(() => cluster.manager.dispatcher()?.connectedNodes().includes(nodeId)).toBe(true);
      const probeOn = (address: string) => {
        const peer = new PeerServiceClient(address, tlsWith(certPem, keyPem), options);
        return attempt(peer, peer.probe, {}).finally(() => peer.close());
      };
      expect(await probeOn(second.address)).toHaveProperty('hearsLeader');
      const removedAt = Date.now();
      await cluster.rpc(cluster.control.removeNode, { node: nodeId, force: true });
      await expect
        .poll(() => cluster.manager.dispatcher()?.connectedNodes().includes(nodeId), { timeout: 1_000, interval: 20 })
        .toBe(false);
      for (const manager of [cluster.manager, second]) {
        await expect
          .poll(async () => ((await probeOn(manager.address)) as ServiceError).details ?? '', {
            timeout: Math.max(1, 1_000 - (Date.now() - removedAt)),
            interval: 20,
          })
          .toContain('was revoked');
      }
      // The agent cannot get back in: its sessions are refused, and it stays out.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(agent.session.state).toBe('connecting');
      expect(cluster.manager.dispatcher()?.connectedNodes()).not.toContain(nodeId);
    } finally {
      await agent.stop();
    }
  });

  it('revokes a node ID without removing it (what demotion calls): its session ends and it cannot renew', async () => {
    const agent = await join('demoted');
    const { nodeId, certPem, keyPem } = agent.credentials;
    try {
      await expect.poll(() => cluster.manager.dispatcher()?.connectedNodes().includes(nodeId)).toBe(true);
      await revokeIdentity(second.store, { subjectId: nodeId, reason: 'test' });
      await expect
        .poll(() => cluster.manager.dispatcher()?.connectedNodes().includes(nodeId), { timeout: 1_000, interval: 20 })
        .toBe(false);
      const ca = new NodeCaServiceClient(second.address, tlsWith(certPem, keyPem), options);
      const refused = await attempt(ca, ca.renew, { csrPem: (await createKeyAndCsr()).csrPem });
      ca.close();
      expect((refused as ServiceError).details).toContain('was revoked');
      // The node itself is still in the store: only its certificates were revoked.
      expect(await cluster.manager.store.get('nodes', nodeId)).toBeDefined();
    } finally {
      await agent.stop();
    }
  });

  it('refuses a revoked operator certificate on every manager, and only that one', async () => {
    const { ca } = cluster.manager.identity;
    const keys = await createKeyAndCsr();
    const operatorId = 'opx1';
    const certPem = await ca.issue({ csrPem: keys.csrPem, nodeId: operatorId, role: 'operator' });
    const clients = [cluster.manager, second].map(
      (m) => new ControlServiceClient(m.address, tlsWith(certPem, keys.keyPem), options),
    );
    try {
      for (const c of clients) expect(await attempt(c, c.getCluster, {})).toHaveProperty('id');
      // Through the follower: the write is forwarded to the leader.
      const viaFollower = new ControlServiceClient(
        second.address,
        tlsWith(cluster.manager.identity.operator.certPem, cluster.manager.identity.operator.keyPem),
        options,
      );
      expect(await attempt(viaFollower, viaFollower.revokeOperator, { operatorId })).toEqual({});
      viaFollower.close();
      for (const c of clients) {
        await expect
          .poll(async () => ((await attempt(c, c.getCluster, {})) as ServiceError).details ?? '', {
            timeout: 1_000,
            interval: 20,
          })
          .toContain('was revoked');
      }
      // The operator the test cluster uses is not touched.
      expect((await cluster.rpc(cluster.control.getCluster, {})).id).toBe(cluster.manager.identity.clusterId);
      const bad = await attempt(cluster.control, cluster.control.revokeOperator, { operatorId: 'not an id' });
      expect((bad as ServiceError).details).toContain('is not an operator ID');
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('cert-expiry', () => {
  it('refuses less than a minute, keeps a minute or more, and issues new certificates with it', async () => {
    const short = await attempt(cluster.control, cluster.control.updateCluster, { certExpiryMs: 59_000n });
    expect((short as ServiceError).details).toContain('give at least 1m');
    const { settings } = await cluster.rpc(cluster.control.updateCluster, { certExpiryMs: 120_000n });
    expect(settings?.certExpiryMs).toBe(120_000n);
    expect((await cluster.rpc(cluster.control.getCluster, {})).settings?.certExpiryMs).toBe(120_000n);
    const agent = await join('minute');
    try {
      const { notBeforeMs, notAfterMs } = certificateLife(agent.credentials.certPem);
      expect(notAfterMs - notBeforeMs).toBe(120_000);
      // Renewal is planned between 50 % and 80 % of that life.
      expect(agent.renewer.nextAt).toBeGreaterThanOrEqual(notBeforeMs + 60_000);
      expect(agent.renewer.nextAt).toBeLessThanOrEqual(notBeforeMs + 96_000);
    } finally {
      await agent.stop();
      await setCertLife(0n);
    }
  });
});
