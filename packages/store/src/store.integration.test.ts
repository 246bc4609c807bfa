import { Code, FlotillaError, Task, TaskState } from '@flotilla/api';
import { startEtcd, type TestServer } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from './connection.js';
import { keyOf } from './kinds.js';
import { Store, type Write } from './store.js';

let etcd: TestServer;
let client: Etcd3;
let store: Store;

beforeAll(async () => {
  etcd = await startEtcd();
  client = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 2_000 });
  store = new Store(client);
});

afterAll(async () => {
  client?.close();
  await etcd?.destroy();
});

const task = (id: string, slot: number) =>
  Task.fromPartial({ id, serviceId: 'svc', slot: BigInt(slot), desiredState: TaskState.TASK_STATE_RUNNING });

async function storeError(promise: Promise<unknown>): Promise<FlotillaError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected a FlotillaError');
}

describe('Store on a real etcd', () => {
  it('creates, reads, updates with compare-and-swap, and deletes', async () => {
    const v1 = await store.create('tasks', 't1', task('t1', 1));
    const got = await store.get('tasks', 't1');
    expect(got?.value.slot).toBe(1n);
    expect(got?.version).toBe(v1);
    const v2 = await store.update('tasks', 't1', { ...got!.value, nodeId: 'n1' }, v1);
    expect(v2).toBeGreaterThan(v1);
    expect((await store.get('tasks', 't1'))?.value.nodeId).toBe('n1');
    await store.delete('tasks', 't1', v2);
    expect(await store.get('tasks', 't1')).toBeUndefined();
  });

  it('refuses a stale update, a duplicate create and an update of a missing object as conflicts', async () => {
    const v1 = await store.create('tasks', 't2', task('t2', 2));
    await store.update('tasks', 't2', task('t2', 3), v1);
    expect((await storeError(store.update('tasks', 't2', task('t2', 4), v1))).reason).toBe('conflict');
    expect((await storeError(store.create('tasks', 't2', task('t2', 5)))).reason).toBe('conflict');
    expect((await storeError(store.update('tasks', 'missing', task('missing', 1), 1n))).reason).toBe('conflict');
    expect((await store.get('tasks', 't2'))?.value.slot).toBe(3n);
  });

  it('writes a batch of 1,000 objects in transactions etcd accepts and lists them', async () => {
    const writes: Write[] = Array.from({ length: 1000 }, (_, i) => ({
      op: 'create',
      kind: 'tasks',
      id: `b${i}`,
      value: task(`b${i}`, i),
    }));
    const result = await store.batch(writes);
    expect(result.transactions).toBe(8);
    const { items, revision } = await store.list('tasks');
    expect(items.filter((t) => t.value.id.startsWith('b'))).toHaveLength(1000);
    expect(revision).toBeGreaterThanOrEqual(result.revision);
  });

  it('commits a batch with 16 transactions in flight, and on a conflict says how many writes landed', async () => {
    const writes: Write[] = Array.from({ length: 2000 }, (_, i) => ({
      op: 'create',
      kind: 'tasks',
      id: `p${i}`,
      value: task(`p${i}`, i),
    }));
    const commits: number[] = [];
    const result = await store.batch(writes, { inFlight: 16, onCommit: (_r, n) => commits.push(n) });
    expect(commits.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(result.transactions).toBe(commits.length);
    expect((await store.list('tasks')).items.filter((t) => t.id.startsWith('p'))).toHaveLength(2000);
    // Creating them again conflicts in every transaction: nothing lands and the error says so.
    const err = await storeError(store.batch(writes.slice(0, 300), { inFlight: 4 }));
    expect(err.reason).toBe('conflict');
    expect(err.message).toContain('(0 of 300 writes landed)');
  });

  it('writes an atomic batch in one transaction, or refuses one too large before writing anything', async () => {
    const writes = (prefix: string, n: number, label = ''): Write[] =>
      Array.from({ length: n }, (_, i) => ({
        op: 'create',
        kind: 'tasks',
        id: `${prefix}${i}`,
        value: Task.fromPartial({ ...task(`${prefix}${i}`, i), serviceName: label }),
      }));
    const whole = await store.batch(writes('a', 127), { atomic: { what: 'the test batch' } });
    expect(whole.transactions).toBe(1);
    const many = await storeError(store.batch(writes('m', 128), { atomic: { what: 'the test batch' } }));
    expect(many.code).toBe(Code.ResourceExhausted);
    expect(many.message).toMatch(/the test batch is written in one etcd transaction.*128 writes, over the 127/);
    const big = await storeError(
      store.batch(writes('g', 3, 'x'.repeat(400_000)), { atomic: { what: 'the test batch' } }),
    );
    expect(big.message).toMatch(/holds 1\.\d\d MiB, over the 1 MiB.*--max-request-bytes.*nothing was written/);
    // Nothing of either was written.
    const ids = (await store.list('tasks')).items.map((t) => t.id);
    expect(ids.filter((id) => /^[mg]\d/.test(id))).toEqual([]);
    expect(ids.filter((id) => /^a\d/.test(id))).toHaveLength(127);
    // A conflict in an atomic batch leaves everything as it was, too.
    const conflict = await storeError(
      store.batch([...writes('c', 2), ...writes('a', 1)], { atomic: { what: 'the test batch' } }),
    );
    expect(conflict.reason).toBe('conflict');
    expect((await store.list('tasks')).items.filter((t) => /^c\d/.test(t.id))).toEqual([]);
  });

  it('requires objects it does not write unchanged: the transaction lands only while they are as they were read', async () => {
    const guard = await store.create('tasks', 'guard', task('guard', 1));
    const atomic = (version: bigint, id = 'guard') => ({
      atomic: { what: 'the test batch', unchanged: [{ kind: 'tasks' as const, id, version }] },
    });
    const create = (id: string): Write => ({ op: 'create', kind: 'tasks', id, value: task(id, 1) });
    // Unchanged: the writes land, and the object checked is not written.
    await store.batch([create('k1')], atomic(guard));
    expect((await store.get('tasks', 'k1'))?.value.slot).toBe(1n);
    expect((await store.get('tasks', 'guard'))?.version).toBe(guard);
    // Moved on since it was read: nothing lands.
    await store.update('tasks', 'guard', task('guard', 2), guard);
    const moved = await storeError(store.batch([create('k2')], atomic(guard)));
    expect(moved.reason).toBe('conflict');
    expect(moved.message).toContain(keyOf('tasks', 'guard'));
    expect(await store.get('tasks', 'k2')).toBeUndefined();
    // Version 0: the object must still be absent; its creation in between refuses the transaction.
    await store.batch([create('k3')], atomic(0n, 'late'));
    expect(await store.get('tasks', 'late')).toBeUndefined();
    await store.create('tasks', 'late', task('late', 1));
    const created = await storeError(store.batch([create('k4')], atomic(0n, 'late')));
    expect(created.reason).toBe('conflict');
    expect(await store.get('tasks', 'k4')).toBeUndefined();
    // The checks count against the transaction's compares: 126 writes and 1 check fit, 127 and 1 do not.
    const many = (prefix: string, n: number): Write[] => Array.from({ length: n }, (_, i) => create(`${prefix}${i}`));
    const late = (await store.get('tasks', 'late'))?.version ?? 0n;
    expect((await store.batch(many('u', 126), atomic(late, 'late'))).transactions).toBe(1);
    const over = await storeError(store.batch(many('o', 127), atomic(late, 'late')));
    expect(over.message).toMatch(/127 writes and 1 checks, over the 127/);
    expect((await store.list('tasks')).items.filter((t) => /^o\d/.test(t.id))).toEqual([]);
  });

  it('fences writes on a leadership key: a deposed leader cannot write', async () => {
    const lease = client.lease(30);
    await lease.put('/flotilla/v1/leader').value('manager-a');
    const held = await client.get('/flotilla/v1/leader').exec();
    const createRevision = BigInt(held.kvs[0]!.create_revision);
    const leader = store.fenced({ key: '/flotilla/v1/leader', createRevision });
    await leader.create('tasks', 'f1', task('f1', 1));
    // Leadership moves on: the key is deleted and created again by someone else.
    await lease.revoke();
    await client.put('/flotilla/v1/leader').value('manager-b');
    const err = await storeError(leader.create('tasks', 'f2', task('f2', 1)));
    expect(err.reason).toBe('fenced');
    expect(await store.get('tasks', 'f2')).toBeUndefined();
    expect(await client.get(keyOf('tasks', 'f1')).buffer()).not.toBeNull();
  });

  it('fails fast with unavailable when etcd is down, and works again when it returns', async () => {
    await etcd.stop();
    const started = Date.now();
    expect((await storeError(store.get('tasks', 't2'))).code).toBe(Code.Unavailable);
    expect(Date.now() - started).toBeLessThan(5_000);
    await etcd.restart();
    await expect
      .poll(async () => (await store.get('tasks', 't2').catch(() => undefined))?.value.slot, { timeout: 10_000 })
      .toBe(3n);
  });
});
