import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import {
  ManagedProcess,
  makeTestPki,
  startRedis,
  type TestPki,
  type TestServer,
  tempDir,
} from '@flotilla/test-servers';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisTlsOptions, whenReady } from './connection.js';
import { EVENTS_KEY, logKey } from './keys.js';
import { LogReader } from './log-reader.js';
import { redisLogShipper } from './log-shipper.js';
import { deleteNodeUser, nodePassword, nodeUserIds, nodeUserName, setNodeUser } from './node-users.js';

// Redis as the cluster runs it: TLS only, client certificates of the cluster's CA, managers as the default user
// with a password, one user per node.
const ADMIN = 'managers-secret';
const dir = tempDir('redis-acl');
const otherDir = tempDir('redis-acl-other');
let pki: TestPki;
let otherPki: TestPki;
let redis: TestServer;
const clients: Redis[] = [];

beforeAll(async () => {
  pki = makeTestPki(dir.path);
  otherPki = makeTestPki(otherDir.path);
  redis = await startRedis({
    password: ADMIN,
    tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, caFile: pki.caFile },
  });
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.destroy();
  await ManagedProcess.stopAll();
  dir.remove();
  otherDir.remove();
});

const address = () => `127.0.0.1:${redis.port}`;
const tls = (p: TestPki = pki): RedisTlsOptions => ({
  caFile: pki.caFile,
  certFile: p.clientCertFile,
  keyFile: p.clientKeyFile,
});

function connect(auth: string, options: { tls?: RedisTlsOptions; readyCheck?: boolean; scheme?: string } = {}): Redis {
  const client = connectRedis({
    url: `${options.scheme ?? 'rediss'}://${auth}@${address()}`,
    ...(options.scheme === 'redis' ? {} : { tls: options.tls ?? tls() }),
    readyCheck: options.readyCheck ?? true,
    connectTimeoutMs: 1_000,
    reconnectDelayMs: { first: 50, max: 200 },
  });
  clients.push(client);
  return client;
}

const admin = () => connect(`:${ADMIN}`);
const asNode = (id: string) =>
  connect(`${nodeUserName(id)}:${encodeURIComponent(nodePassword(ADMIN, id))}`, { readyCheck: false });

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves once Redis refused the client's AUTH (ioredis then drops the connection and tries again). */
function refusedAuth(client: Redis): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('AUTH was not refused within 5 s')), 5_000);
    client.on('error', (err: Error) => {
      if (!/WRONGPASS/.test(err.message)) return;
      // ioredis puts the refused AUTH on the error: its password must be masked before anything logs it.
      const seen = JSON.stringify(err, Object.getOwnPropertyNames(err));
      if (/nodeA|nodeB|nodeC/.test(seen) && !seen.includes('***')) reject(new Error(`AUTH unmasked: ${seen}`));
      for (const id of ['nodeA', 'nodeB', 'nodeC']) {
        if (seen.includes(nodePassword(ADMIN, id))) reject(new Error('a password is in the error'));
      }
      clearTimeout(timer);
      resolve();
    });
  });
}

async function refusal(command: Promise<unknown>): Promise<string> {
  const err = await command.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message;
}

describe('Redis over TLS with client certificates of the cluster CA', () => {
  it('answers a client with a certificate of the CA, and the managers read and write everything', async () => {
    const client = admin();
    await whenReady(client, 5_000);
    await client.xadd(EVENTS_KEY, '*', 'e', '1');
    expect(await client.xlen(EVENTS_KEY)).toBeGreaterThan(0);
  });

  it('refuses a plaintext connection', async () => {
    const client = connect(`:${ADMIN}`, { scheme: 'redis' });
    await expect(whenReady(client, 1_500)).rejects.toMatchObject({ reason: 'unavailable' });
    // and the server still serves TLS clients
    const other = admin();
    await whenReady(other, 5_000);
    expect(await other.ping()).toBe('PONG');
  });

  it('refuses a client without a certificate, and one with a certificate of another CA', async () => {
    const bare = connect(`:${ADMIN}`, { tls: { caFile: pki.caFile } });
    await expect(whenReady(bare, 1_500)).rejects.toBeDefined();
    const foreign = connect(`:${ADMIN}`, { tls: tls(otherPki) });
    await expect(whenReady(foreign, 1_500)).rejects.toBeDefined();
    // The handshake itself fails: nothing of Redis is reached, the password is never sent.
    const handshake = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: redis.port, ca: readFileSync(pki.caFile) });
      socket.on('secureConnect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => resolve(`answered ${String(d).trim()}`));
      socket.on('error', (e) => resolve(`refused ${e.message}`));
      socket.on('close', () => resolve('closed'));
    });
    expect(handshake).not.toMatch(/answered/);
  });
});

describe('one Redis user per node', () => {
  it("lets a node append to its own streams only, never to another node's, and read nothing", async () => {
    const manager = admin();
    await whenReady(manager, 5_000);
    await setNodeUser(manager, 'nodeA', nodePassword(ADMIN, 'nodeA'));
    await setNodeUser(manager, 'nodeB', nodePassword(ADMIN, 'nodeB'));
    await manager.xadd(logKey('t2', undefined, 'nodeB'), '*', 'stream', 'stdout', 'line', 'b', 'at', '1');
    const a = asNode('nodeA');
    await whenReady(a, 5_000);
    const own = logKey('t1', undefined, 'nodeA');
    expect(await a.xadd(own, 'MAXLEN', '~', 10, '*', 'stream', 'stdout', 'line', 'a', 'at', '1')).toMatch(/-/);
    expect(await a.expire(own, 60)).toBe(1);
    expect(await refusal(a.xadd(logKey('t2', undefined, 'nodeB'), '*', 'line', 'forged'))).toMatch(/^NOPERM/);
    expect(await refusal(a.xadd(logKey('t3'), '*', 'line', 'old layout'))).toMatch(/^NOPERM/);
    expect(await refusal(a.xadd(EVENTS_KEY, '*', 'e', 'forged'))).toMatch(/^NOPERM/);
    expect(await refusal(a.xrange(own, '-', '+'))).toMatch(/^NOPERM/);
    expect(await refusal(a.xread('STREAMS', logKey('t2', undefined, 'nodeB'), '0'))).toMatch(/^NOPERM/);
    expect(await refusal(a.xrange(EVENTS_KEY, '-', '+'))).toMatch(/^NOPERM/);
    expect(await refusal(a.keys('*'))).toMatch(/^NOPERM/);
    expect(await refusal(a.del(own))).toMatch(/^NOPERM/);
    expect(await refusal(a.call('ACL', 'SETUSER', nodeUserName('nodeA'), '+@all', '~*'))).toMatch(/^NOPERM/);
    // Nothing forged reached B's stream or the events.
    expect(await manager.xlen(logKey('t2', undefined, 'nodeB'))).toBe(1);
    expect((await manager.xrange(EVENTS_KEY, '-', '+')).some(([, f]) => f.includes('forged'))).toBe(false);
    // A node with a wrong password (another node's) gets nothing.
    const impostor = connect(`${nodeUserName('nodeA')}:${nodePassword(ADMIN, 'nodeB')}`, { readyCheck: false });
    await refusedAuth(impostor);
    expect(await refusal(impostor.xadd(own, '*', 'line', 'x'))).toBeTruthy();
  });

  it("shuts a removed node out while another node's logs keep flowing, and managers still read all", async () => {
    const manager = admin();
    await whenReady(manager, 5_000);
    for (const id of ['nodeC', 'nodeD']) await setNodeUser(manager, id, nodePassword(ADMIN, id));
    expect(await nodeUserIds(manager)).toEqual(expect.arrayContaining(['nodeC', 'nodeD']));
    const url = (id: string) =>
      `rediss://${nodeUserName(id)}:${encodeURIComponent(nodePassword(ADMIN, id))}@${address()}`;
    const shipC = redisLogShipper(url('nodeC'), undefined, { nodeId: 'nodeC', tls: tls() });
    const shipD = redisLogShipper(url('nodeD'), undefined, { nodeId: 'nodeD', tls: tls() });
    const reader = new LogReader(admin());
    const lines = async (node: string, task: string) => {
      const out: string[] = [];
      for await (const l of reader.tail(task, { nodeId: node })) out.push(l.line);
      return out;
    };
    shipC.append('tc', 'stdout', ['c1']);
    shipD.append('td', 'stdout', ['d1']);
    await waitFor(
      'both nodes wrote',
      async () => (await lines('nodeC', 'tc')).length + (await lines('nodeD', 'td')).length === 2,
    );

    await deleteNodeUser(manager, 'nodeC');
    expect(await nodeUserIds(manager)).not.toContain('nodeC');
    // D keeps writing while C is cut off; C's later lines are refused or dropped, never stored.
    let n = 0;
    const writing = setInterval(() => {
      n++;
      shipD.append('td', 'stdout', [`d${n + 1}`]);
      shipC.append('tc', 'stdout', [`c${n + 1}`]);
    }, 20);
    await waitFor('D wrote 10 more lines', async () => (await lines('nodeD', 'td')).length >= 11);
    clearInterval(writing);
    expect(await lines('nodeC', 'tc')).toEqual(['c1']);
    const c = connect(`${nodeUserName('nodeC')}:${encodeURIComponent(nodePassword(ADMIN, 'nodeC'))}`, {
      readyCheck: false,
    });
    await refusedAuth(c);
    expect(shipD.stats()).toMatchObject({ rejected: 0 });
    await Promise.all([shipC.close({ timeoutMs: 500 }), shipD.close(), reader.close()]);
  });

  it('keeps passwords out of the errors it makes', async () => {
    const manager = admin();
    await whenReady(manager, 5_000);
    await setNodeUser(manager, 'nodeE', nodePassword(ADMIN, 'nodeE'));
    const e = asNode('nodeE');
    await whenReady(e, 5_000);
    // A node trying to raise itself: refused, and the message names the user, not the password it tried.
    const secret = 'raise-me-secret';
    const err = await refusal(setNodeUser(e, 'nodeE', secret));
    expect(err).toContain('NOPERM (ACL SETUSER flotilla-node-nodeE)');
    expect(err).not.toContain(secret);
  });
});
