import { statSync } from 'node:fs';
import { joinCluster, loadCredentials } from '@flotilla/agent';
import { Cluster, FlotillaError, NodeCaServiceService, NodeSpec_Role, NodeStatus_State } from '@flotilla/api';
import { generateJoinToken } from '@flotilla/pki';
import { connectEtcd, Store } from '@flotilla/store';
import { startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import { Server } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCluster, type ManagerIdentity } from './cluster-bootstrap.js';
import { joinService } from './join-service.js';
import { managerCredentials } from './server-credentials.js';

let etcd: TestServer;
let client: Etcd3;
let store: Store;
let identity: ManagerIdentity;
let server: Server;
let address: string;
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
  server = new Server();
  server.addService(NodeCaServiceService, joinService(store, identity.ca, identity.caKeyPem));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', managerCredentials(identity), (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.forceShutdown();
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

describe('joining a cluster', () => {
  it('bootstraps once: a second start with the same state directory loads the same CA and tokens', async () => {
    const stateDir = dirs[0]?.path as string;
    const again = await bootstrapCluster(store, stateDir, { advertise: { hosts: [], ips: [] } });
    expect(again.ca.fingerprint).toBe(identity.ca.fingerprint);
    expect(again.tokens).toEqual(identity.tokens);
    expect(statSync(`${stateDir}/ca.key`).mode & 0o777).toBe(0o600);
    const cluster = await store.get('clusters', 'default');
    expect(JSON.stringify(Cluster.toJSON(cluster?.value as Cluster))).not.toContain(
      identity.tokens.worker.split('-').at(-1),
    );
  });

  it('admits a worker with the worker token: certificate, node record, and credentials kept 0600', async () => {
    const stateDir = dir('agent');
    const creds = await joinCluster({
      manager: address,
      token: identity.tokens.worker,
      stateDir,
      description: { hostname: 'host-a', addresses: ['198.18.0.2'], os: 'linux', architecture: 'x86_64' },
    });
    expect(creds.role).toBe('worker');
    expect(identity.ca.verify(creds.certPem)).toEqual({
      nodeId: creds.nodeId,
      role: 'worker',
      clusterId: identity.clusterId,
    });
    const node = await store.get('nodes', creds.nodeId);
    expect(node?.value.spec?.role).toBe(NodeSpec_Role.ROLE_WORKER);
    expect(node?.value.description?.hostname).toBe('host-a');
    expect(node?.value.status?.state).toBe(NodeStatus_State.STATE_UNKNOWN);
    expect(loadCredentials(stateDir)).toEqual(creds);
    expect(statSync(`${stateDir}/node.key`).mode & 0o777).toBe(0o600);
  });

  it('admits a manager with the manager token', async () => {
    const creds = await joinCluster({ manager: address, token: identity.tokens.manager, stateDir: dir('agent-m') });
    expect(creds.role).toBe('manager');
    expect(creds).not.toHaveProperty('caKeyPem');
  });

  it('hands the CA key to a joining manager only, and only with the manager token', async () => {
    const err = await failure(
      joinCluster({ manager: address, token: identity.tokens.worker, stateDir: dir('mgr-bad'), asManager: true }),
    );
    expect(err.reason).toBe('bad-token');
    expect(err.message).toContain('join-token manager');
    const nodesBefore = (await store.list('nodes')).items.length;
    const stateDir = dir('manager-2');
    const second = await bootstrapCluster(store, stateDir, {
      advertise: { hosts: [], ips: [] },
      join: { manager: address, token: identity.tokens.manager },
    });
    expect(second.ca.fingerprint).toBe(identity.ca.fingerprint);
    expect(second.caKeyPem).toBe(identity.caKeyPem);
    expect(second.tokens).toEqual(identity.tokens);
    expect(second.nodeId).not.toBe(identity.nodeId);
    expect(identity.ca.verify(second.certPem).role).toBe('manager');
    expect(identity.ca.verify(second.operator.certPem).role).toBe('operator');
    expect(statSync(`${stateDir}/ca.key`).mode & 0o777).toBe(0o600);
    // A manager is not a task-running node: it is known by its election candidacy instead.
    expect((await store.list('nodes')).items).toHaveLength(nodesBefore);
    // Started again, it loads what it received.
    const again = await bootstrapCluster(store, stateDir, { advertise: { hosts: [], ips: [] } });
    expect(again.nodeId).toBe(second.nodeId);
  });

  it('refuses to create a second cluster in an etcd that already holds one', async () => {
    await expect(bootstrapCluster(store, dir('manager-3'), { advertise: { hosts: [], ips: [] } })).rejects.toThrow(
      /already holds cluster .*--join/,
    );
  });

  it('refuses a token this cluster did not issue, and says so', async () => {
    const forged = generateJoinToken(identity.ca.fingerprint).token;
    const err = await failure(joinCluster({ manager: address, token: forged, stateDir: dir('agent-bad') }));
    expect(err.reason).toBe('bad-token');
    expect(err.message).toContain('flotilla join-token');
  });

  it('does not talk to a manager that lacks the CA the token names', async () => {
    const other = generateJoinToken('f'.repeat(64)).token;
    const err = await failure(joinCluster({ manager: address, token: other, stateDir: dir('agent-wrong') }));
    expect(err.reason).toBe('wrong-ca');
    const nodes = await store.list('nodes');
    expect(nodes.items).toHaveLength(2);
  });

  it('refuses a description with an oversized field, naming it, and records no node', async () => {
    const before = (await store.list('nodes')).items.length;
    const err = await failure(
      joinCluster({
        manager: address,
        token: identity.tokens.worker,
        stateDir: dir('agent-big'),
        description: { hostname: 'h'.repeat(300) },
      }),
    );
    expect(err.message).toContain('hostname is over the limit of 253 characters');
    expect((await store.list('nodes')).items).toHaveLength(before);
  });

  it('refuses a malformed token before connecting', async () => {
    const err = await failure(joinCluster({ manager: address, token: 'SWMTKN-1-abc', stateDir: dir('agent-mal') }));
    expect(err.reason).toBe('malformed-token');
  });
});
