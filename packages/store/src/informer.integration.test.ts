import { Task } from '@flotilla/api';
import { startEtcd, TcpProxy, type TestServer } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from './connection.js';
import { type ChangeSet, Informer } from './informer.js';
import { Store, type Write } from './store.js';

let etcd: TestServer;
const clients: Etcd3[] = [];
const informers: Informer<'tasks'>[] = [];
const connect = (url = etcd.url) => {
  const c = connectEtcd({ endpoints: [url], callTimeoutMs: 2_000 });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  for (const i of informers) await i.stop();
  for (const c of clients) c.close();
  await etcd?.destroy();
});

const task = (id: string, nodeId = '') => Task.fromPartial({ id, serviceId: 'svc', nodeId });

async function informerOn(store: Store) {
  const informer = new Informer(store, 'tasks', { retryDelayMs: 100 });
  informers.push(informer);
  const sets: ChangeSet<Task>[] = [];
  informer.subscribe((set) => sets.push(set));
  await informer.start();
  return { informer, sets };
}

describe('Informer on a real etcd', () => {
  it('lists, then delivers each transaction whole and in revision order', async () => {
    const store = new Store(connect());
    await store.batch([{ op: 'put', kind: 'tasks', id: 'a', value: task('a') }]);
    const { informer, sets } = await informerOn(store);
    expect(informer.get('a')?.value.id).toBe('a');
    const writes: Write[] = Array.from({ length: 50 }, (_, i) => ({
      op: 'put',
      kind: 'tasks',
      id: `w${i}`,
      value: task(`w${i}`),
    }));
    const { revision } = await store.batch(writes);
    await store.delete('tasks', 'a');
    await expect.poll(() => informer.get('a'), { timeout: 5_000 }).toBeUndefined();
    const batch = sets.find((s) => s.revision === revision);
    expect(batch?.changes).toHaveLength(50);
    const revisions = sets.map((s) => s.revision);
    expect([...revisions].sort((x, y) => (x < y ? -1 : 1))).toEqual(revisions);
    expect(informer.list()).toHaveLength(50);
    expect(informer.status()).toMatchObject({ connected: true, relists: 1, undecodable: 0 });
  });

  it('resumes its watch across an etcd restart without losing a change', async () => {
    const store = new Store(connect());
    const { informer } = await informerOn(store);
    await store.batch([{ op: 'put', kind: 'tasks', id: 'before-restart', value: task('before-restart') }]);
    await expect.poll(() => informer.get('before-restart')?.id, { timeout: 5_000 }).toBe('before-restart');
    await etcd.restart();
    await expect
      .poll(
        async () =>
          store.batch([{ op: 'put', kind: 'tasks', id: 'after-restart', value: task('after-restart') }]).then(
            () => true,
            () => false,
          ),
        {
          timeout: 15_000,
        },
      )
      .toBe(true);
    await expect.poll(() => informer.get('after-restart')?.id, { timeout: 15_000 }).toBe('after-restart');
    expect(informer.status().connected).toBe(true);
  });

  it('after a partition, resumes from its last revision and receives what it missed as watch events', async () => {
    const writer = new Store(connect());
    const proxy = await TcpProxy.start(etcd.port);
    try {
      const { informer, sets } = await informerOn(new Store(connect(proxy.url)));
      await proxy.cut();
      await expect.poll(() => informer.status().connected, { timeout: 10_000 }).toBe(false);
      const first = await writer.batch([{ op: 'put', kind: 'tasks', id: 'p1', value: task('p1') }]);
      const second = await writer.batch([{ op: 'put', kind: 'tasks', id: 'p2', value: task('p2') }]);
      await proxy.restore();
      await expect.poll(() => informer.get('p2')?.id, { timeout: 15_000 }).toBe('p2');
      // No re-list: both transactions came through the resumed watch, each as its own change set.
      expect(informer.status().relists).toBe(1);
      const resumed = sets.filter((s) => !s.relisted).map((s) => s.revision);
      expect(resumed).toEqual(expect.arrayContaining([first.revision, second.revision]));
    } finally {
      await proxy.close();
    }
  });

  it('after missing a compacted history behind a partition, lists again and delivers the difference', async () => {
    const writer = new Store(connect());
    await writer.batch(
      ['k1', 'k2', 'k3'].map((id) => ({ op: 'put' as const, kind: 'tasks' as const, id, value: task(id) })),
    );
    const proxy = await TcpProxy.start(etcd.port);
    try {
      const { informer, sets } = await informerOn(new Store(connect(proxy.url)));
      expect(informer.get('k1')).toBeDefined();
      await proxy.cut();
      await expect.poll(() => informer.status().connected, { timeout: 10_000 }).toBe(false);
      expect(informer.status().staleForMs).toBeGreaterThanOrEqual(0);
      // While the informer is cut off: a change, a delete, a create, then compaction of that history.
      // Two transactions, so that compacting at the last one removes a revision the informer still needs.
      await writer.batch([
        { op: 'put', kind: 'tasks', id: 'k1', value: task('k1', 'node-9') },
        { op: 'delete', kind: 'tasks', id: 'k2' },
      ]);
      await writer.batch([{ op: 'put', kind: 'tasks', id: 'k4', value: task('k4') }]);
      const { revision } = await writer.list('tasks');
      await writer.client.kv.compact({ revision: revision.toString(), physical: true });
      const before = sets.length;
      await proxy.restore();
      await expect.poll(() => informer.status().relists, { timeout: 20_000 }).toBe(2);
      await expect.poll(() => informer.status().connected, { timeout: 10_000 }).toBe(true);
      expect(informer.get('k1')?.value.nodeId).toBe('node-9');
      expect(informer.get('k2')).toBeUndefined();
      expect(informer.get('k4')).toBeDefined();
      const relisted = sets.slice(before).find((s) => s.relisted);
      expect(relisted?.changes.map((c) => `${c.type}:${c.id}`).sort()).toEqual(['delete:k2', 'put:k1', 'put:k4']);
    } finally {
      await proxy.close();
    }
  });
});
