import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { FlotillaError, Task } from '@flotilla/api';
import { startEtcd, type TestServer } from '@flotilla/testing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from './connection.js';
import { Election } from './election.js';
import { Store } from './store.js';

let etcd: TestServer;
const clients: Etcd3[] = [];
const connect = () => {
  const c = connectEtcd({ endpoints: [etcd.url], callTimeoutMs: 2_000 });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  etcd = await startEtcd();
});

const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const c of clients) c.close();
  await etcd?.destroy();
});

/** A candidate in its own process; resolves with its fence once it leads. */
async function leaderProcess(id: string, ttl: number, prefix: string) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.resolve(import.meta.dirname, '../test/election-child.ts'),
      etcd.url,
      id,
      String(ttl),
      prefix,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: path.resolve(import.meta.dirname, '..') },
  );
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().startsWith('leader') && resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the ${id} process exited with ${code} before it led`)));
  });
  const [, , key, revision] = line.split(' ');
  return { child, fence: { key: key as string, createRevision: BigInt(revision as string) } };
}

describe('leader election with fencing', () => {
  it('elects one leader; the next candidate leads as soon as it resigns', async () => {
    const a = new Election(connect(), { id: 'a', ttlSeconds: 5, prefix: '/t1/election/' });
    const b = new Election(connect(), { id: 'b', ttlSeconds: 5, prefix: '/t1/election/' });
    const leaderA = await a.campaign(AbortSignal.timeout(10_000));
    let bLeads = false;
    const pendingB = b.campaign(AbortSignal.timeout(10_000)).then((l) => {
      bLeads = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(bLeads).toBe(false);
    expect(await a.leader()).toBe('a');
    await leaderA.resign();
    const leaderB = await pendingB;
    expect(await b.leader()).toBe('b');
    expect(leaderB.fence.createRevision).toBeGreaterThan(leaderA.fence.createRevision);
    await leaderB.resign();
  });

  it('a campaign aborted while its lease is granted ends, and leaves no candidacy behind', async () => {
    const a = new Election(connect(), { id: 'a', ttlSeconds: 5, prefix: '/t4/election/' });
    const b = new Election(connect(), { id: 'b', ttlSeconds: 5, prefix: '/t4/election/' });
    const leaderA = await a.campaign(AbortSignal.timeout(10_000));
    // Aborted before the campaign listens for it (the abort event has passed): it must still end.
    const stopping = new AbortController();
    const pending = b.campaign(stopping.signal);
    stopping.abort(new Error('stopping'));
    await expect(pending).rejects.toThrow();
    expect(await a.candidates()).toEqual(['a']);
    await leaderA.resign();
  });

  it('after kill -9 of the leader process, the other manager leads within the lease TTL', async () => {
    const ttl = 2;
    const { child } = await leaderProcess('child', ttl, '/t2/election/');
    const b = new Election(connect(), { id: 'b', ttlSeconds: ttl, prefix: '/t2/election/' });
    expect(await b.leader()).toBe('child');
    const pending = b.campaign(AbortSignal.timeout(15_000));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    const leadership = await pending;
    expect(await b.leader()).toBe('b');
    // etcd expires a lease between TTL and about twice the TTL after the last keepalive.
    expect(Date.now() - killedAt).toBeLessThan(ttl * 2_000 + 1_000);
    await leadership.resign();
  });

  it('a deposed leader that has not noticed is fenced: its writes are refused', async () => {
    const ttl = 2;
    const old = await leaderProcess('old', ttl, '/t3/election/');
    // The old leader's fenced store, as it would write on waking up.
    const oldStore = new Store(connect()).fenced(old.fence);
    await oldStore.create('tasks', 'before', Task.fromPartial({ id: 'before' }));
    // The old leader stalls: no keepalives reach etcd, its lease expires, and another manager takes over.
    old.child.kill('SIGSTOP');
    const next = await new Election(connect(), { id: 'new', ttlSeconds: 5, prefix: '/t3/election/' }).campaign(
      AbortSignal.timeout(15_000),
    );
    expect(next.fence.key).not.toBe(old.fence.key);
    let err: unknown;
    await oldStore.create('tasks', 'after', Task.fromPartial({ id: 'after' })).catch((e) => {
      err = e;
    });
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('fenced');
    expect(await new Store(connect()).get('tasks', 'after')).toBeUndefined();
    old.child.kill('SIGKILL');
    await next.resign();
  });
});
