import { randomBytes } from 'node:crypto';
import {
  type ContainerSpec,
  type ControlServiceClient,
  type FileObject,
  FileObjectKind,
  type FileReference,
  Node,
  NodeStatus_State,
  type Service,
  type ServiceSpec,
} from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import { CertificateAuthority } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { CLUSTER_KEY, connectEtcd, Informer, keyOf, prefixEnd, ROOT } from '@flotilla/store';
import { startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorClient, rpc } from '../../test/test-cluster.js';
import { type RunningManager, startManager } from '../manager.js';
import { clusterDataKey } from './cluster-data-key.js';
import { DataKey, MAX_FILE_OBJECT_BYTES, sealFileObject } from './data-key.js';
import { FileObjectCollector } from './file-collector.js';

// Secrets and configs over the control API of a manager on a real etcd: what goes in comes out only as a config's
// content on reveal, etcd never holds a plaintext value, removal is refused while a service uses a version, and the
// data key survives a CA rotation and a manager's restart.
const SECRET = FileObjectKind.FILE_OBJECT_KIND_SECRET;
const CONFIG = FileObjectKind.FILE_OBJECT_KIND_CONFIG;
// Random, so a match in etcd's raw values cannot be a coincidence of the encoding.
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const SETTINGS = `settings-${randomBytes(12).toString('hex')}\n`;

let etcd: TestServer;
let client: Etcd3;
let manager: RunningManager | undefined;
let control: ControlServiceClient;
const dirs = ['files-manager', 'files-cli'].map((label) => tempDir(label));

async function start(): Promise<void> {
  manager = await startManager({
    etcd: { endpoints: [etcd.url] },
    listen: '127.0.0.1:0',
    stateDir: dirs[0]?.path as string,
    cliConfigDir: dirs[1]?.path as string,
    electionTtlSeconds: 2,
  });
  control?.close();
  control = operatorClient(manager, manager.address);
  // Writes go to the leader: this manager, once elected.
  const deadline = Date.now() + 10_000;
  while (!manager.controlPlane.leading()) {
    if (Date.now() > deadline) throw new Error('the manager was not elected');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  await start();
});

afterAll(async () => {
  control?.close();
  await manager?.stop();
  client?.close();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

const running = () => manager as RunningManager;

async function restart(): Promise<void> {
  await running().stop();
  manager = undefined;
  await start();
}
const call = <Req, Res>(method: Parameters<typeof rpc<Req, Res>>[1], request: Req) => rpc(control, method, request);
const create = (kind: FileObjectKind, name: string, data: string | Buffer, labels: Record<string, string> = {}) =>
  call(control.createFileObject, { kind, name, labels, data: Buffer.from(data) });
const get = (kind: FileObjectKind, nameOrId: string, reveal = false) =>
  call(control.getFileObject, { kind, nameOrId, reveal });
const list = async (kind: FileObjectKind) => (await call(control.listFileObjects, { kind })).objects;
const remove = (kind: FileObjectKind, nameOrId: string) => call(control.removeFileObject, { kind, nameOrId });

/** Every value under Flotilla's prefix, raw, as whoever reads etcd sees it. */
async function rawValues(): Promise<{ key: string; value: Buffer }[]> {
  const response = await client.kv.range({ key: Buffer.from(ROOT), range_end: Buffer.from(prefixEnd(ROOT)) });
  return response.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value }));
}

/** A service of stack `files` that names this version (as a deploy will), written straight into the store. */
async function useIn(serviceName: string, objectId: string, as: 'secrets' | 'configs'): Promise<Service> {
  const yaml = `services:\n  ${serviceName}:\n    image: app:1\n    deploy:\n      replicas: 0\n`;
  await call(control.deployStack, { stack: toStackSpec(loadStackText(yaml).stack, 'files'), prune: false });
  const store = running().store;
  const service = (await store.list('services')).items.find(
    (s) => s.value.spec?.annotations?.name === `files_${serviceName}`,
  );
  if (!service) throw new Error('service not deployed');
  const ref: FileReference = { source: 'x', target: '', uid: '', gid: '', mode: 0o400, objectId };
  const updated = await store.modify('services', service.id, (s) => {
    const container = s.spec?.container;
    if (!s.spec || !container) return undefined;
    return { ...s, spec: { ...s.spec, container: { ...container, [as]: [...container[as], ref] } } };
  });
  return updated?.value as Service;
}

function withoutFiles(spec: ServiceSpec): ServiceSpec {
  return { ...spec, container: { ...(spec.container as ContainerSpec), secrets: [], configs: [] } };
}

describe('secrets and configs over the control API', () => {
  it('creates, lists and shows them; a config reveals its content, a secret never does', async () => {
    const secret = (await create(SECRET, 'db_password', PASSWORD, { team: 'a' })).object;
    expect(secret).toMatchObject({ name: 'db_password', kind: SECRET, version: 1n, stack: '', labels: { team: 'a' } });
    expect(secret?.size).toBe(PASSWORD.length);
    const config = (await create(CONFIG, 'app.conf', SETTINGS)).object;
    // A secret and a config are apart: the same name may be both.
    await create(CONFIG, 'db_password', 'not a secret');

    expect((await list(SECRET)).map((o) => o.name)).toEqual(['db_password']);
    expect((await list(CONFIG)).map((o) => o.name)).toEqual(['app.conf', 'db_password']);
    expect((await get(SECRET, 'db_password')).object?.id).toBe(secret?.id);
    const byId = await get(SECRET, secret?.id as string);
    expect(byId.object?.name).toBe('db_password');
    expect(byId.data.length).toBe(0);
    expect(Buffer.from((await get(CONFIG, config?.id as string, true)).data).toString()).toBe(SETTINGS);
    await expect(get(SECRET, 'db_password', true)).rejects.toThrow(/a secret's content is never shown/);
    // A secret is not found among configs by its ID.
    await expect(get(CONFIG, secret?.id as string)).rejects.toThrow(/no config .*see flotilla config ls/);
    await expect(get(SECRET, 'nope')).rejects.toThrow(/no secret nope: see flotilla secret ls/);
  });

  it('refuses a name taken, a bad name, an unset kind, and content over 500 KiB (without echoing it)', async () => {
    await expect(create(SECRET, 'db_password', 'other')).rejects.toThrow(/secret db_password exists: remove it first/);
    await expect(create(SECRET, '-bad', 'x')).rejects.toThrow(/letters, digits/);
    await expect(create(SECRET, 'x'.repeat(65), 'x')).rejects.toThrow(/at most 64 characters/);
    await expect(create(FileObjectKind.FILE_OBJECT_KIND_UNSPECIFIED, 'ok', 'x')).rejects.toThrow(/secret or a config/);
    const big = Buffer.alloc(MAX_FILE_OBJECT_BYTES + 1, 'Z');
    const refusal = await create(SECRET, 'big', big).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(refusal?.message).toMatch(/more than a secret or config may hold \(512000 bytes\)/);
    expect(refusal?.message).not.toContain('ZZZZ');
    // Exactly the limit is taken.
    await create(SECRET, 'at_limit', Buffer.alloc(MAX_FILE_OBJECT_BYTES, 'Y'));
    expect((await list(SECRET)).map((o) => o.name)).toEqual(['at_limit', 'db_password']);
    await remove(SECRET, 'at_limit');
  });

  it('holds no plaintext in etcd: not in the files, not in the Cluster object, not anywhere', async () => {
    const values = await rawValues();
    const files = values.filter((v) => v.key.startsWith(`${ROOT}files/`));
    expect(files.length).toBe(3);
    for (const { value } of values) {
      expect(value.includes(Buffer.from(PASSWORD))).toBe(false);
      expect(value.includes(Buffer.from(SETTINGS.trim()))).toBe(false);
    }
    const cluster = values.find((v) => v.key === keyOf('clusters', CLUSTER_KEY));
    expect(cluster).toBeDefined();
    // The cluster's data key is there only sealed: it does not open with another cluster's CA key, and the
    // manager's own opens it to the key that opens the stored secret.
    const stored = (await running().store.get('clusters', CLUSTER_KEY))?.value;
    expect(stored?.sealedDataKey.length).toBeGreaterThan(0);
    const opened = DataKey.unsealWith(running().identity.caKeyPem, stored?.sealedDataKey as Uint8Array);
    const secret = await storedNamed('db_password', SECRET);
    expect(opened.open(secret.id, secret.sealed).toString()).toBe(PASSWORD);
  });

  it('refuses to remove a version while a service names it, naming the service; removes it once unused', async () => {
    const secret = await storedNamed('db_password', SECRET);
    const web = await useIn('web', secret.id, 'secrets');
    expect((await list(SECRET)).find((o) => o.id === secret.id)?.usedBy).toEqual(['files_web']);
    expect((await get(SECRET, 'db_password')).object?.usedBy).toEqual(['files_web']);
    await expect(remove(SECRET, 'db_password')).rejects.toThrow(/secret db_password is in use by files_web/);
    await expect(remove(SECRET, secret.id)).rejects.toThrow(/in use by files_web/);
    expect(await running().store.get('files', secret.id)).toBeDefined();
    // As a rollback target (the previous spec), it is still in use.
    const spec = web.spec as ServiceSpec;
    await running().store.modify('services', web.id, (s) => ({ ...s, spec: withoutFiles(spec), previousSpec: spec }));
    await expect(remove(SECRET, 'db_password')).rejects.toThrow(/in use by files_web/);
    await running().store.modify('services', web.id, (s) => ({ ...s, previousSpec: undefined }));
    await remove(SECRET, 'db_password');
    expect(await running().store.get('files', secret.id)).toBeUndefined();
    await expect(remove(SECRET, 'db_password')).rejects.toThrow(/no secret db_password/);
  });

  it("the leader's collection removes a stack's superseded, unused versions, never an operator's own", async () => {
    const store = running().store;
    const key = running().identity.dataKey;
    const version = (id: string, v: bigint, ageMs: number) =>
      sealFileObject(key, {
        id,
        kind: SECRET,
        name: 'files_token',
        stack: 'files',
        version: v,
        content: Buffer.from(`token ${v}`),
        nowMs: Date.now() - ageMs,
      });
    const v1 = version('filestokenversion000000001', 1n, 120_000);
    const v2 = version('filestokenversion000000002', 2n, 120_000);
    const v3 = version('filestokenversion000000003', 3n, 120_000);
    for (const v of [v1, v2, v3]) await store.create('files', v.id, v);
    await useIn('api', v2.id, 'secrets');
    const services = new Informer(store, 'services');
    const tasks = new Informer(store, 'tasks');
    await Promise.all([services.start(), tasks.start()]);
    const log = createLogger('test', { level: 'silent' });
    const collector = new FileObjectCollector(store, { services, tasks, log, minAgeMs: 60_000 });
    try {
      await services.caughtUp((await store.list('services')).revision);
      expect(await collector.collect()).toBe(1);
      const left = (await store.list('files')).items.map((f) => f.id);
      // v1 only: v2 is in use, v3 the newest; app.conf and the config db_password are the operator's.
      expect(left).not.toContain(v1.id);
      expect(left).toEqual(expect.arrayContaining([v2.id, v3.id]));
      expect((await list(CONFIG)).map((o) => o.name)).toEqual(['app.conf', 'db_password']);
    } finally {
      await collector.stop();
      await services.stop();
      await tasks.stop();
    }
  });

  it('keeps every secret openable through a CA rotation, with the manager started again during and after it', async () => {
    const before = (await running().store.get('clusters', CLUSTER_KEY))?.value;
    const oldKey = running().identity.caKeyPem;
    const config = await storedNamed('app.conf', CONFIG);
    // A node that never renews (a record with no agent): the rotation waits for it until --force.
    await running().store.create(
      'nodes',
      'secretswaitingnode1',
      Node.fromPartial({ id: 'secretswaitingnode1', status: { state: NodeStatus_State.STATE_READY } }),
    );
    await call(control.rotateCa, { force: false });
    await expect.poll(() => running().identity.ca.rotating, { timeout: 5_000 }).toBe(true);

    // Started again in the middle of the rotation: the data key is still sealed with the old key, which it holds.
    await restart();
    expect((await running().store.get('clusters', CLUSTER_KEY))?.value.caRotation).toBeDefined();
    expect(running().identity.dataKey.open(config.id, config.sealed).toString()).toBe(SETTINGS);

    await call(control.rotateCa, { force: true });
    await expect.poll(() => running().identity.caKeyPem, { timeout: 5_000 }).not.toBe(oldKey);
    const after = (await running().store.get('clusters', CLUSTER_KEY))?.value;
    expect(after?.caRotation).toBeUndefined();
    expect(after?.caCertPem).not.toBe(before?.caCertPem);
    // Sealed again with the new key in the rotation's last write, and not with the old one any more.
    expect(Buffer.from(after?.sealedDataKey ?? []).equals(Buffer.from(before?.sealedDataKey ?? []))).toBe(false);
    expect(() => DataKey.unsealWith(oldKey, after?.sealedDataKey as Uint8Array)).toThrow();
    const reopened = DataKey.unsealWith(running().identity.caKeyPem, after?.sealedDataKey as Uint8Array);
    expect(reopened.open(config.id, config.sealed).toString()).toBe(SETTINGS);

    // Started again on the rotated state directory: it opens it, and the API still reveals the config.
    await restart();
    expect(running().identity.dataKey.open(config.id, config.sealed).toString()).toBe(SETTINGS);
    expect(Buffer.from((await get(CONFIG, 'app.conf', true)).data).toString()).toBe(SETTINGS);
    await running().store.delete('nodes', 'secretswaitingnode1');
  });
});

describe('a cluster made before secrets and configs', () => {
  it('gets one data key, made once by compare-and-swap however many managers ask at once', async () => {
    const store = running().store;
    // The last test: the cluster loses its data key, as one made by an older version never had one.
    await store.modify('clusters', CLUSTER_KEY, (c) => ({ ...c, sealedDataKey: Buffer.alloc(0) }));
    const held = { caKeyPem: running().identity.caKeyPem, caCertPem: running().identity.ca.certPem };
    const keys = await Promise.all([1, 2, 3, 4].map(() => clusterDataKey(store, held)));
    const sealed = (await store.get('clusters', CLUSTER_KEY))?.value.sealedDataKey as Uint8Array;
    const stored = DataKey.unsealWith(held.caKeyPem, sealed);
    const sample = stored.seal('x', Buffer.from('same key'));
    for (const key of keys) expect(key.open('x', sample).toString()).toBe('same key');
    // A manager whose CA is not the cluster's (it missed a rotation's end) makes none.
    await store.modify('clusters', CLUSTER_KEY, (c) => ({ ...c, sealedDataKey: Buffer.alloc(0) }));
    const stale = { ...held, caCertPem: (await CertificateAuthority.create('x')).ca.certPem };
    await expect(clusterDataKey(store, stale)).rejects.toThrow(/not caught up with the last CA rotation/);
    expect((await store.get('clusters', CLUSTER_KEY))?.value.sealedDataKey.length).toBe(0);
  });
});

async function storedNamed(name: string, kind: FileObjectKind): Promise<FileObject> {
  const found = (await running().store.list('files')).items.find((f) => f.value.name === name && f.value.kind === kind);
  if (!found) throw new Error(`${name} is not stored`);
  return found.value;
}
