import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { Code, FlotillaError } from '@flotilla/api';
import { ManagedProcess, makeTestPki, startEtcd, tempDir } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { connectEtcd } from './connection.js';
import { Store } from './store.js';

const dirs: { remove(): void }[] = [];
afterAll(async () => {
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

async function code(promise: Promise<unknown>): Promise<Code | string> {
  return promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof FlotillaError ? err.code : `unexpected ${String(err)}`),
  );
}

describe('etcd connection settings', () => {
  it('talks mutual TLS with a CA, a client certificate and a key; refuses a client without them', async () => {
    const dir = tempDir('pki');
    dirs.push(dir);
    const pki = makeTestPki(dir.path);
    const etcd = await startEtcd({ tls: pki });
    const good = connectEtcd({
      endpoints: [etcd.url],
      tls: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile },
      callTimeoutMs: 3_000,
    });
    const noClientCert = connectEtcd({ endpoints: [etcd.url], tls: { caFile: pki.caFile }, callTimeoutMs: 3_000 });
    try {
      expect(etcd.url.startsWith('https://')).toBe(true);
      await good.put('/tls-check').value('ok');
      expect(await good.get('/tls-check').string()).toBe('ok');
      expect(await code(new Store(noClientCert).get('tasks', 'x'))).toBe(Code.Unavailable);
    } finally {
      good.close();
      noClientCert.close();
      await etcd.destroy();
    }
  });

  it('follows its TLS files: a certificate replaced on disk is used from the next connection, same client', async () => {
    const [dir, otherDir] = [tempDir('pki-follow'), tempDir('pki-other')];
    dirs.push(dir, otherDir);
    const pki = makeTestPki(dir.path);
    const other = makeTestPki(otherDir.path);
    const etcd = await startEtcd({ tls: pki });
    const file = (name: string) => path.join(dir.path, `follow-${name}`);
    // First a certificate of another CA: etcd refuses it.
    copyFileSync(pki.caFile, file('ca.crt'));
    copyFileSync(other.clientCertFile, file('client.crt'));
    copyFileSync(other.clientKeyFile, file('client.key'));
    const client = connectEtcd({
      endpoints: [etcd.url],
      tls: { caFile: file('ca.crt'), certFile: file('client.crt'), keyFile: file('client.key') },
      callTimeoutMs: 2_000,
    });
    try {
      expect(await code(new Store(client).get('tasks', 'x'))).toBe(Code.Unavailable);
      // The cluster's certificate and key in their place: the same client gets in.
      copyFileSync(pki.clientKeyFile, file('client.key'));
      copyFileSync(pki.clientCertFile, file('client.crt'));
      await expect.poll(() => code(new Store(client).get('tasks', 'x')), { timeout: 10_000, interval: 200 }).toBe('ok');
    } finally {
      client.close();
      await etcd.destroy();
    }
  });

  it('authenticates with a user and password; refuses a wrong password', async () => {
    const etcd = await startEtcd();
    const admin = connectEtcd({ endpoints: [etcd.url] });
    const user = connectEtcd({ endpoints: [etcd.url], auth: { username: 'root', password: 'right-pass' } });
    const wrong = connectEtcd({ endpoints: [etcd.url], auth: { username: 'root', password: 'wrong-pass' } });
    try {
      await admin.user('root').create('right-pass');
      await admin.user('root').addRole('root');
      await admin.auth.authEnable({});
      await user.put('/auth-check').value('ok');
      expect(await user.get('/auth-check').string()).toBe('ok');
      expect(await code(new Store(wrong).get('tasks', 'x'))).toBe(Code.PermissionDenied);
    } finally {
      for (const c of [admin, user, wrong]) c.close();
      await etcd.destroy();
    }
  });
});
