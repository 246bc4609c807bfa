import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ClusterSettings_SecurityProfile, FileObjectKind, ServiceSpec, type Task, TaskState } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { CLUSTER_KEY, connectEtcd, Store } from '@flotilla/store';
import { freePort, HollowNodes, startEtcd, type TestServer } from '@flotilla/testing';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, rpc, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import { readBackupHeader } from './cluster/cluster-backup.js';
import { restoreCluster } from './cluster/cluster-restore.js';
import { checkAdmission } from './control-api/admission/admission-check.js';
import { embeddedEtcd as embeddedEtcdOf, type RunningManager, startManager } from './manager.js';

// A backup taken from a running cluster, restored into an empty etcd and a new state directory: the manager that
// starts on it has the same services, the same tasks in the same slots on the same nodes, and the same tokens.
let cluster: TestCluster;
let group: HollowNodes;
let target: TestServer;
let restored: RunningManager | undefined;
const PASSPHRASE = 'correct horse battery staple';
const SECRET_TEXT = `secret-${randomBytes(8).toString('hex')}`;
const CONFIG_TEXT = 'listen 8080\n';
/** A service that runs as the image's user (root, as far as a deploy can tell): refused under restricted. */
const rootService = ServiceSpec.fromPartial({ annotations: { name: 'r_app' }, stack: 'r', container: { image: 'x' } });

beforeAll(async () => {
  cluster = await startTestCluster('backup');
  group = await HollowNodes.start({
    manager: cluster.manager.address,
    token: cluster.manager.identity.tokens.worker,
    count: 3,
    startDelayMs: 20,
  });
  target = await startEtcd();
});

afterAll(async () => {
  await restored?.stop();
  group?.stop();
  await target?.destroy();
  await cluster?.stop();
});

const running = (ts: Task[]) =>
  ts
    .filter((t) => t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING)
    .map((t) => `${t.id} slot ${t.slot} on ${t.nodeId}`)
    .sort();

function backup(passphrase: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const call = cluster.control.backupCluster({ passphrase }, new Metadata());
  return new Promise((resolve, reject) => {
    call.on('data', (m: { chunk: Uint8Array }) => parts.push(Buffer.from(m.chunk)));
    call.on('error', (err: Error & { details?: string }) => reject(new Error(err.details ?? err.message)));
    call.on('end', () => resolve(Buffer.concat(parts)));
  });
}

describe('backup and restore', () => {
  it('restores services, tasks in their slots on their nodes, and the join tokens, into a new cluster', async () => {
    const yaml = 'services:\n  web:\n    image: web:1\n    deploy:\n      replicas: 5\n';
    await cluster.rpc(cluster.control.deployStack, {
      stack: toStackSpec(loadStackText(yaml).stack, 'b'),
      prune: false,
    });
    const tasks = () => cluster.rpc(cluster.control.listTasks, { service: 'b_web', stack: '', node: '' });
    await expect.poll(async () => running((await tasks()).tasks).length, { timeout: 20_000 }).toBe(5);
    const before = running((await tasks()).tasks);
    // Secrets and configs: sealed with the data key, itself sealed with the CA key the backup carries.
    await cluster.rpc(cluster.control.createFileObject, {
      kind: FileObjectKind.FILE_OBJECT_KIND_CONFIG,
      name: 'kept.conf',
      labels: {},
      data: Buffer.from(CONFIG_TEXT),
    });
    await cluster.rpc(cluster.control.createFileObject, {
      kind: FileObjectKind.FILE_OBJECT_KIND_SECRET,
      name: 'kept_secret',
      labels: {},
      data: Buffer.from(SECRET_TEXT),
    });
    // The admission policy has a key of its own: it comes back with the rest.
    await cluster.rpc(cluster.control.updateCluster, {
      securityProfile: ClusterSettings_SecurityProfile.SECURITY_PROFILE_RESTRICTED,
      allowedBindPrefixes: { prefixes: ['/srv/backup'] },
    });
    const policy = (await cluster.manager.store.get('admission', CLUSTER_KEY))?.value;
    expect(policy?.securityProfile).toBe(ClusterSettings_SecurityProfile.SECURITY_PROFILE_RESTRICTED);

    const bytes = await backup(PASSPHRASE);
    const header = readBackupHeader(bytes, 'backup');
    expect(header).toMatchObject({ clusterId: cluster.manager.identity.clusterId, format: 'flotilla-backup' });
    // Nothing secret in the clear: not the CA key, not a join token.
    const text = bytes.toString();
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(cluster.manager.identity.tokens.worker.split('-').at(-1));
    expect(text).not.toContain(SECRET_TEXT);

    const etcd = { endpoints: [target.url] };
    const client = connectEtcd(etcd);
    try {
      await expect(
        restoreCluster({
          backup: { bytes, name: 'backup' },
          passphrase: 'not the passphrase at all',
          etcd,
          stateDir: cluster.dir('wrong'),
          advertise: { hosts: [], ips: [] },
        }),
      ).rejects.toThrow(/passphrase does not open it/);
      const stateDir = cluster.dir('restored');
      const result = await restoreCluster({
        backup: { bytes, name: 'backup' },
        passphrase: PASSPHRASE,
        etcd,
        stateDir,
        advertise: { hosts: [], ips: [] },
      });
      expect(result.clusterId).toBe(header.clusterId);
      expect(statSync(`${stateDir}/ca.key`).mode & 0o777).toBe(0o600);
      expect(readFileSync(`${stateDir}/ca.crt`, 'utf8')).toBe(cluster.manager.identity.ca.certPem);
      // A second restore into the same etcd is refused, and changes nothing.
      const again = cluster.dir('again');
      await expect(
        restoreCluster({
          backup: { bytes, name: 'backup' },
          passphrase: PASSPHRASE,
          etcd,
          stateDir: again,
          advertise: { hosts: [], ips: [] },
        }),
      ).rejects.toThrow(/already holds Flotilla data/);
      // ... and leaves no state directory a manager would start on.
      expect(existsSync(`${again}/ca.key`)).toBe(false);

      restored = await startManager({
        etcd: { endpoints: [target.url] },
        listen: '127.0.0.1:0',
        stateDir,
        cliConfigDir: cluster.dir('restored-cli'),
      });
      expect(restored.identity.clusterId).toBe(header.clusterId);
      expect(restored.identity.tokens).toEqual(cluster.manager.identity.tokens);
      const store = new Store(client);
      const after = running((await store.list('tasks')).items.map((t) => t.value).filter((t) => t.serviceId));
      expect(after).toEqual(before);
      // The restored manager opens the secrets and configs of the backup, and shows the config's content.
      const files = (await store.list('files')).items.map((f) => f.value);
      const secret = files.find((f) => f.name === 'kept_secret');
      expect(restored.identity.dataKey.open(secret?.id as string, secret?.sealed as Uint8Array).toString()).toBe(
        SECRET_TEXT,
      );
      const restoredControl = operatorClient(restored, restored.address);
      try {
        const shown = await rpc(restoredControl, restoredControl.getFileObject, {
          kind: FileObjectKind.FILE_OBJECT_KIND_CONFIG,
          nameOrId: 'kept.conf',
          reveal: true,
        });
        expect(Buffer.from(shown.data).toString()).toBe(CONFIG_TEXT);
      } finally {
        restoredControl.close();
      }
      // The restored cluster keeps the policy: as cluster inspect shows it, and as admission judges by it.
      expect((await store.get('admission', CLUSTER_KEY))?.value).toEqual(policy);
      const control = operatorClient(restored, restored.address);
      try {
        const { settings } = await rpc(control, control.getCluster, {});
        expect(settings).toMatchObject({
          securityProfile: ClusterSettings_SecurityProfile.SECURITY_PROFILE_RESTRICTED,
          allowedBindPrefixes: ['/srv/backup'],
        });
      } finally {
        control.close();
      }
      await expect(checkAdmission(store, [rootService], 'the deploy of stack r')).rejects.toThrow(/restricted/);
      // Only the restored manager is a member of the new cluster.
      expect((await store.list('managers')).items.map((m) => m.id)).toEqual([restored.identity.nodeId]);
    } finally {
      client.close();
    }
  });

  it("restores into the new manager's own etcd member, which the manager then starts on", async () => {
    const bytes = await backup(PASSPHRASE);
    const stateDir = `${cluster.dir('embedded')}/state`;
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const embeddedEtcd = { listenClient: `127.0.0.1:${clientPort}`, listenPeer: `127.0.0.1:${peerPort}` };
    await restoreCluster({
      backup: { bytes, name: 'backup' },
      passphrase: PASSPHRASE,
      etcd: { embedded: embeddedEtcdOf({ stateDir, embeddedEtcd }, '127.0.0.1') },
      stateDir,
      advertise: { hosts: [], ips: [] },
    });
    const own = await startManager({
      embeddedEtcd,
      listen: '127.0.0.1:0',
      stateDir,
      cliConfigDir: cluster.dir('embedded-cli'),
    });
    try {
      expect(own.identity.clusterId).toBe(cluster.manager.identity.clusterId);
      expect(own.identity.tokens).toEqual(cluster.manager.identity.tokens);
      expect((await own.store.list('services')).items.map((s) => s.value.spec?.annotations?.name)).toEqual(['b_web']);
    } finally {
      await own.stop();
    }
  });

  it('refuses a passphrase too short to protect the CA key', async () => {
    await expect(backup('short')).rejects.toThrow(/at least 12 characters/);
  });
});
