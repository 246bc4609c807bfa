import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { FlotillaError } from '@flotilla/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRegistryCredentials } from './registry-credentials.js';

describe('loadRegistryCredentials', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'flotilla-registry-credentials-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (content: string) => {
    const file = path.join(dir, 'config.json');
    writeFileSync(file, content);
    return file;
  };

  it('reads auth (base64 user:pass) and username/password entries, normalizing hosts', async () => {
    const file = write(
      JSON.stringify({
        auths: {
          '127.0.0.1:5000': { auth: Buffer.from('alice:pa:ss').toString('base64') },
          'https://index.docker.io/v1/': { username: 'bob', password: 'hunter2' },
          'registry.example.com': {},
        },
      }),
    );
    const credentials = await loadRegistryCredentials(file);
    expect(credentials.get('127.0.0.1:5000')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(credentials.get('docker.io')).toEqual({ username: 'bob', password: 'hunter2' });
    expect(credentials.get('registry.example.com')).toBeUndefined();
    expect(credentials.source).toBe(file);
    // Secrets never show when the object is logged.
    expect(inspect(credentials)).not.toContain('hunter2');
    expect(JSON.stringify(credentials)).not.toContain('hunter2');
  });

  it('treats a missing file as no credentials, still naming it', async () => {
    const file = path.join(dir, 'missing.json');
    const credentials = await loadRegistryCredentials(file);
    expect(credentials.registries()).toEqual([]);
    expect(credentials.source).toBe(file);
  });

  it('refuses a malformed file without quoting its content', async () => {
    const bad = write('{"auths": {"h": {"auth": "secretsecret"');
    const err = await loadRegistryCredentials(bad).catch((e: unknown) => e);
    expect((err as FlotillaError).reason).toBe('invalid-config');
    expect((err as FlotillaError).message).not.toContain('secretsecret');
    const noColon = write(JSON.stringify({ auths: { h: { auth: Buffer.from('nocolon').toString('base64') } } }));
    const err2 = await loadRegistryCredentials(noColon).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(FlotillaError);
    expect((err2 as FlotillaError).message).toContain('"h" needs "auth"');
  });
});
