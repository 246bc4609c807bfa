import { FileObjectKind, FileObjectSpec, ServiceSpec, StackSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { DataKey, MAX_FILE_OBJECT_BYTES, sealFileObject } from '../../secrets/data-key.js';
import { decideFileObjects, pinFileObjects, resolveFileObjects } from './file-object-versions.js';

const SECRET = FileObjectKind.FILE_OBJECT_KIND_SECRET;
const CONFIG = FileObjectKind.FILE_OBJECT_KIND_CONFIG;
const key = DataKey.generate();
let ids = 0;
const make = { now: 1_000n, newId: () => `id${++ids}` };

const object = (name: string, data?: string) =>
  FileObjectSpec.fromPartial({
    annotations: { name },
    external: data === undefined,
    data: Buffer.from(data ?? ''),
  });

const stack = (secrets: FileObjectSpec[], configs: FileObjectSpec[] = [], uses = ['shop_db']) =>
  StackSpec.fromPartial({
    name: 'shop',
    secrets,
    configs,
    services: [
      ServiceSpec.fromPartial({
        annotations: { name: 'shop_web' },
        stack: 'shop',
        container: { image: 'web', secrets: uses.map((source) => ({ source, target: `/run/secrets/${source}` })) },
      }),
    ],
  });

/** A stored version as the store lists it (its etcd version 7). */
const stored = (name: string, version: bigint, content: string, owner = 'shop', kind = SECRET) => ({
  id: `${name}-v${version}`,
  version: 7n,
  value: sealFileObject(key, {
    id: `${name}-v${version}`,
    kind,
    name,
    stack: owner,
    version,
    content: Buffer.from(content),
  }),
});

describe('decideFileObjects', () => {
  it('stores version 1 of a name never seen, sealed, and says which', () => {
    const [d] = decideFileObjects([], stack([object('shop_db', 'hunter2')]), key, make);
    expect(d?.action).toBe('first');
    expect(d?.version.version).toBe(1n);
    expect(d?.version.stack).toBe('shop');
    expect(d?.write).toMatchObject({ op: 'create', kind: 'files', id: d?.version.id });
    expect(key.open(d?.version.id ?? '', d?.version.sealed ?? Buffer.alloc(0)).toString()).toBe('hunter2');
    expect(Buffer.from(d?.version.sealed ?? []).includes('hunter2')).toBe(false);
  });

  it('keeps the newest version when the content is the same: no new version, no write while a service uses it', () => {
    const existing = [stored('shop_db', 1n, 'old'), stored('shop_db', 2n, 'hunter2')];
    const used = new Set(['shop_db-v2']);
    const [d] = decideFileObjects(existing, stack([object('shop_db', 'hunter2')]), key, make, used);
    expect(d?.action).toBe('same');
    expect(d?.version.id).toBe('shop_db-v2');
    expect(d?.write).toBeUndefined();
  });

  it('rewrites a kept version nothing uses yet as it was read, so a removal meanwhile fails the deploy', () => {
    const existing = [stored('shop_db', 2n, 'hunter2'), stored('db', 1n, 'x', '')];
    const decisions = decideFileObjects(existing, stack([object('shop_db', 'hunter2'), object('db')]), key, make);
    expect(decisions.map((d) => d.write)).toEqual([
      { op: 'update', kind: 'files', id: 'shop_db-v2', value: existing[0]?.value, version: 7n },
      { op: 'update', kind: 'files', id: 'db-v1', value: existing[1]?.value, version: 7n },
    ]);
  });

  it('stores version N+1 with a new ID when the content changed, compared with the newest version only', () => {
    // Version 1 held this content once: going back to it is still a change from version 2.
    const existing = [stored('shop_db', 2n, 'newer'), stored('shop_db', 1n, 'hunter2')];
    const [d] = decideFileObjects(existing, stack([object('shop_db', 'hunter2')]), key, make);
    expect(d?.action).toBe('changed');
    expect(d?.version.version).toBe(3n);
    expect(d?.previous?.id).toBe('shop_db-v2');
    expect(['shop_db-v1', 'shop_db-v2']).not.toContain(d?.version.id);
    expect(d?.write?.op).toBe('create');
  });

  it('resolves an external object to the newest version of its name, and writes nothing while it is used', () => {
    const existing = [stored('db', 1n, 'a', ''), stored('db', 4n, 'b', ''), stored('db', 2n, 'c', '')];
    const [d] = decideFileObjects(existing, stack([object('db')], [], ['db']), key, make, new Set(['db-v4']));
    expect(d?.action).toBe('external');
    expect(d?.version.id).toBe('db-v4');
    expect(d?.write).toBeUndefined();
  });

  it('refuses an external object that does not exist, saying how to create it', () => {
    const decide = () => decideFileObjects([], stack([object('db')], [], ['db']), key, make);
    expect(decide).toThrow(/secret db of stack shop is external but no secret named db exists/);
    expect(decide).toThrow(/flotilla secret create db FILE/);
  });

  it('tells a secret from a config of the same name', () => {
    const existing = [stored('shop_db', 1n, 'x', 'shop', CONFIG)];
    const [d] = decideFileObjects(existing, stack([object('shop_db', 'x')]), key, make);
    expect(d?.action).toBe('first');
  });

  it('refuses a stack object whose name another stack or `secret create` already made', () => {
    const mine = () => decideFileObjects([stored('shop_db', 1n, 'x', '')], stack([object('shop_db', 'x')]), key, make);
    expect(mine).toThrow(/made with flotilla secret create: declare it "external: true"/);
    const other = () =>
      decideFileObjects([stored('shop_db', 1n, 'x', 'blog')], stack([object('shop_db', 'x')]), key, make);
    expect(other).toThrow(/made by stack blog/);
  });

  it('refuses content over the cap, naming the object and the stack, never the content', () => {
    const big = 'p'.repeat(MAX_FILE_OBJECT_BYTES + 1);
    const decide = () => decideFileObjects([], stack([object('shop_db', big)]), key, make);
    expect(decide).toThrow(/secret db of stack shop: 512001 bytes is more than a secret may hold/);
    try {
      decide();
    } catch (err) {
      expect((err as Error).message).not.toContain('ppp');
    }
  });

  it('refuses a stack with secrets or configs when there is no data key, and lets others through', () => {
    expect(() => decideFileObjects([], stack([object('shop_db', 'x')]), undefined, make)).toThrow(
      /stack shop declares secrets or configs and this manager holds no data key/,
    );
    expect(decideFileObjects([], stack([], [], []), undefined, make)).toEqual([]);
  });
});

describe('pinFileObjects', () => {
  it('names the decided version in each reference, configs and secrets apart', () => {
    const s = stack([object('shop_db', 'pw')], [object('shop_db', 'conf')]);
    s.services[0]?.container?.configs.push({
      source: 'shop_db',
      target: '/db.conf',
      uid: '',
      gid: '',
      mode: 0o444,
      objectId: '',
    });
    const { stack: pinned, decisions, writes } = resolveFileObjects([], s, key, make);
    const container = pinned.services[0]?.container;
    const secret = decisions.find((d) => d.kind === SECRET)?.version.id;
    const config = decisions.find((d) => d.kind === CONFIG)?.version.id;
    expect(secret).not.toBe(config);
    expect(container?.secrets[0]?.objectId).toBe(secret);
    expect(container?.configs[0]?.objectId).toBe(config);
    expect(writes).toHaveLength(2);
    // The request itself is left as it came.
    expect(s.services[0]?.container?.secrets[0]?.objectId).toBe('');
  });

  it('refuses a reference to an object the stack does not declare', () => {
    expect(() => pinFileObjects(stack([], [], ['shop_api_key']), [])).toThrow(
      /service shop_web uses secret api_key, which stack shop does not declare/,
    );
  });
});
