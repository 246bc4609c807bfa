import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { redisServer } from './redis.js';

const dir = mkdtempSync(path.join(tmpdir(), 'devhosts-redis-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('redisServer', () => {
  it('writes a configuration only its owner reads, the password quoted as redis.conf reads it', () => {
    const configFile = path.join(dir, 'redis.conf');
    const { spec, url } = redisServer({
      configFile,
      dataDir: dir,
      port: 6390,
      bind: '198.19.0.1',
      password: 'a "b"\\c d\n',
      binary: '/usr/bin/redis-server',
    });
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(configFile, 'utf8')).toBe(
      `bind 198.19.0.1\nport 6390\ndir ${dir}\nsave ""\nappendonly no\nrequirepass "a \\"b\\"\\\\c d\\x0a"\n`,
    );
    expect(spec).toMatchObject({ command: '/usr/bin/redis-server', args: [configFile], readyPort: 6390 });
    expect(spec.readyHost).toBe('198.19.0.1');
    expect(url).toBe(`redis://:${encodeURIComponent('a "b"\\c d\n')}@198.19.0.1:6390`);
  });

  it('listens on loopback without a password unless given one', () => {
    const configFile = path.join(dir, 'plain.conf');
    const { spec, url } = redisServer({ configFile, dataDir: dir, port: 6391, binary: 'redis-server' });
    expect(readFileSync(configFile, 'utf8')).not.toContain('requirepass');
    expect(spec.readyHost).toBeUndefined();
    expect(url).toBe('redis://127.0.0.1:6391');
  });
});

describe('redisServer with TLS', () => {
  it('serves TLS only and asks every client for a certificate of the given CA', () => {
    const configFile = path.join(dir, 'tls.conf');
    const tls = { certFile: '/s/redis.crt', keyFile: '/s/redis.key', caFile: '/s/ca.crt' };
    const { spec, url } = redisServer({ configFile, dataDir: dir, port: 6392, binary: 'redis-server', tls });
    const conf = readFileSync(configFile, 'utf8');
    expect(conf).toContain('port 0\ntls-port 6392\n');
    expect(conf).toContain('tls-cert-file "/s/redis.crt"\ntls-key-file "/s/redis.key"\ntls-ca-cert-file "/s/ca.crt"\n');
    expect(conf).toContain('tls-auth-clients yes\n');
    expect(spec.readyPort).toBe(6392);
    expect(url).toBe('rediss://127.0.0.1:6392');
  });
});
