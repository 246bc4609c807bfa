import {
  FileObjectKind,
  PlannedFileObject_Action,
  PlanStackResponse,
  type Service,
  type StackSpec,
} from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { connectEtcd, prefixOf, Store } from '@flotilla/store';
import { startEtcd, type TestServer } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataKey } from '../../secrets/data-key.js';
import { deployStack } from '../stacks.js';
import { planStack } from './stack-plan.js';

// A stack's secrets and configs go into etcd with its services, in the deploy's one transaction, sealed; a
// service names the version it uses, so only a content change makes a new version and rolls the service.
let etcd: TestServer;
let client: Etcd3;
let store: Store;
const key = DataKey.generate();

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url] });
  store = new Store(client);
});

afterAll(async () => {
  client?.close();
  await etcd?.destroy();
});

const yaml = (port: number) => `
services:
  db:
    image: postgres:16
    secrets: [db_password]
    configs:
      - source: db_conf
        target: /etc/db.conf
        mode: "0440"
  web:
    image: web:1
    ports: ["${port}:80"]
secrets:
  db_password:
    environment: DB_PASSWORD
configs:
  db_conf:
    content: "max_connections = 20"
`;

const PORTS: Record<string, number> = {
  one: 8081,
  two: 8082,
  three: 8083,
  four: 8084,
  five: 8085,
  six: 8086,
  plan: 8087,
  seven: 8088,
};

/** The stack file with these contents for its secret and config (what the CLI reads from the file and content:). */
function stackWith(name: string, password: string, port = PORTS[name] ?? 0): StackSpec {
  return toStackSpec(loadStackText(yaml(port), { env: { DB_PASSWORD: password } }).stack, name, (kind, key) =>
    Buffer.from(kind === 'secrets' && key === 'db_password' ? password : 'max_connections = 20'),
  );
}

async function files(stack: string) {
  return (await store.list('files')).items.map((f) => f.value).filter((f) => f.stack === stack);
}

async function service(name: string): Promise<Service> {
  const found = (await store.list('services')).items.find((s) => s.value.spec?.annotations?.name === name);
  if (!found) throw new Error(`no service ${name}`);
  return found.value;
}

describe('stack deploy with secrets and configs (etcd)', () => {
  it('stores version 1 and pins it, then changes nothing for the same files', async () => {
    await deployStack(store, stackWith('one', 'hunter2'), false, key);
    const first = await files('one');
    expect(first.map((f) => [f.kind, f.name, f.version]).sort()).toEqual([
      [FileObjectKind.FILE_OBJECT_KIND_SECRET, 'one_db_password', 1n],
      [FileObjectKind.FILE_OBJECT_KIND_CONFIG, 'one_db_conf', 1n],
    ]);
    const db = await service('one_db');
    const password = first.find((f) => f.name === 'one_db_password');
    expect(db.spec?.container?.secrets[0]).toMatchObject({
      source: 'one_db_password',
      target: '/run/secrets/db_password',
      objectId: password?.id,
    });
    expect(db.spec?.container?.configs[0]).toMatchObject({ target: '/etc/db.conf', mode: 0o440 });
    expect(key.open(password?.id ?? '', password?.sealed ?? Buffer.alloc(0)).toString()).toBe('hunter2');

    const revision = (await store.list('services')).revision;
    const changes = await deployStack(store, stackWith('one', 'hunter2'), false, key);
    expect(changes.map((c) => c.action)).toEqual([3, 3]); // ACTION_UNCHANGED: no roll
    expect((await store.list('services')).revision).toBe(revision); // nothing written at all
    expect((await service('one_db')).specVersion).toBe(db.specVersion);
    expect(await files('one')).toHaveLength(2);
  });

  it('stores version 2 for a changed content and rolls only the services that use it', async () => {
    await deployStack(store, stackWith('two', 'first'), false, key);
    const before = await service('two_db');
    const web = await service('two_web');
    await deployStack(store, stackWith('two', 'second'), false, key);
    const after = await service('two_db');
    const versions = (await files('two')).filter((f) => f.name === 'two_db_password');
    expect(versions.map((f) => f.version).sort()).toEqual([1n, 2n]);
    const v2 = versions.find((f) => f.version === 2n);
    expect(after.spec?.container?.secrets[0]?.objectId).toBe(v2?.id);
    expect(after.specVersion).toBe(before.specVersion + 1n);
    // The previous spec (what a rollback goes back to) still names version 1.
    expect(after.previousSpec?.container?.secrets[0]?.objectId).toBe(before.spec?.container?.secrets[0]?.objectId);
    expect((await service('two_web')).specVersion).toBe(web.specVersion);
    // The config did not change: still its version 1.
    expect((await files('two')).filter((f) => f.name === 'two_db_conf')).toHaveLength(1);
  });

  it('plans a content change without storing anything: which version, which services roll, no content', async () => {
    await deployStack(store, stackWith('plan', 'before'), false, key);
    const revision = (await store.list('files')).revision;
    const reader = { list: store.list.bind(store), get: store.get.bind(store) };
    const plan = await planStack(reader, stackWith('plan', 'after-secret-9f2'), false, key);
    expect(plan.fileObjects.map((o) => [o.name, o.action, o.versionBefore, o.versionAfter, o.services])).toEqual([
      ['plan_db_password', PlannedFileObject_Action.ACTION_NEW_VERSION, 1n, 2n, ['plan_db']],
      ['plan_db_conf', PlannedFileObject_Action.ACTION_UNCHANGED, 1n, 1n, ['plan_db']],
    ]);
    const db = plan.services.find((s) => s.name === 'plan_db');
    expect(db?.specVersionAfter).toBe((db?.specVersionBefore ?? 0n) + 1n);
    expect(db?.changes).toEqual([
      {
        path: 'container.secrets[/run/secrets/db_password].object_id',
        before: 'plan_db_password version 1',
        after: 'plan_db_password version 2',
      },
    ]);
    expect(plan.services.find((s) => s.name === 'plan_web')?.changes).toEqual([]);
    expect(JSON.stringify(PlanStackResponse.toJSON(plan))).not.toContain('after-secret-9f2');
    expect((await store.list('files')).revision).toBe(revision);
    expect(await files('plan')).toHaveLength(2);
    // The same content plans nothing for it; without the data key the plan is refused as the deploy is.
    const same = await planStack(reader, stackWith('plan', 'before'), false, key);
    expect(same.fileObjects.map((o) => o.action)).toEqual([2, 2]);
    expect(same.services.every((s) => s.changes.length === 0)).toBe(true);
    await expect(planStack(reader, stackWith('plan', 'before'), false)).rejects.toThrow(/holds no data key/);
  });

  it('stores no object when the deploy is refused after deciding them, or loses its transaction', async () => {
    await deployStack(store, stackWith('three', 'a'), false, key);
    const stored = await files('three');
    // Stack three's web publishes this port already: refused, nothing of the new content stored.
    await expect(deployStack(store, stackWith('four', 'b', PORTS.three), false, key)).rejects.toThrow(/port 8083/);
    expect(await files('four')).toEqual([]);

    // Another writer changes the stack's service between the deploy's reads and its transaction.
    const racing = Object.create(store) as Store;
    racing.list = (async (kind: Parameters<Store['list']>[0]) => {
      const listed = await store.list(kind);
      if (kind === 'services') {
        const db = (await store.list('services')).items.find((s) => s.value.spec?.annotations?.name === 'three_db');
        if (db)
          await store.batch([{ op: 'update', kind: 'services', id: db.id, value: db.value, version: db.version }]);
      }
      return listed;
    }) as Store['list'];
    await expect(deployStack(racing, stackWith('three', 'changed'), false, key)).rejects.toMatchObject({
      reason: 'conflict',
    });
    expect((await files('three')).map((f) => f.id).sort()).toEqual(stored.map((f) => f.id).sort());
  });

  it('never pins a kept version removed between its reads and its transaction: the deploy is decided again', async () => {
    await deployStack(store, stackWith('seven', 'kept'), false, key);
    // The stack is removed: its versions stay until the collector takes them, which it does here meanwhile.
    const services = (await store.list('services')).items.filter((s) => s.value.spec?.stack === 'seven');
    await store.batch(services.map((s) => ({ op: 'delete' as const, kind: 'services' as const, id: s.id })));
    const collecting = Object.create(store) as Store;
    collecting.list = (async (kind: Parameters<Store['list']>[0]) => {
      const listed = await store.list(kind);
      if (kind === 'files') {
        const versions = (await store.list('files')).items.filter((f) => f.value.stack === 'seven');
        await store.batch(
          versions.map((f) => ({ op: 'delete' as const, kind: 'files' as const, id: f.id, version: f.version })),
        );
      }
      return listed;
    }) as Store['list'];
    // The first attempt's transaction fails (the version it kept is gone); decided again on fresh state, the
    // deploy stores version 1 anew and pins that one, never the removed one.
    await deployStack(collecting, stackWith('seven', 'kept'), false, key);
    const pinned = (await service('seven_db')).spec?.container?.secrets[0]?.objectId;
    expect((await files('seven')).find((f) => f.name === 'seven_db_password')).toMatchObject({
      id: pinned,
      version: 1n,
    });
  });

  it('keeps no plaintext in etcd: the files kind holds sealed bytes only', async () => {
    const password = 'plaintext-password-4c1d';
    await deployStack(store, stackWith('five', password), false, key);
    const raw = await client.getAll().prefix(prefixOf('files')).buffers();
    expect(Object.keys(raw).length).toBeGreaterThan(0);
    const everything = await client.getAll().buffers();
    for (const value of [...Object.values(raw), ...Object.values(everything)]) {
      expect(value.includes(password)).toBe(false);
      expect(value.includes('max_connections')).toBe(false);
    }
  });

  it('refuses a stack with a secret when the manager has no data key, and stores nothing', async () => {
    await expect(deployStack(store, stackWith('six', 'x'), false)).rejects.toThrow(/holds no data key/);
    expect(await files('six')).toEqual([]);
    expect((await store.list('services')).items.some((s) => s.value.spec?.stack === 'six')).toBe(false);
  });
});
