import { describe, expect, it } from 'vitest';
import { fileTarget } from './task-file-mounts.js';

const ref = (source: string, target = '') => ({ source, target, uid: '', gid: '', mode: 0, objectId: 'o1' });

describe('where a secret or config goes in the container', () => {
  it('a secret at /run/secrets/NAME by default, a relative target under /run/secrets, an absolute one as given', () => {
    expect(fileTarget({ kind: 'secret', ref: ref('db_pw') })).toBe('/run/secrets/db_pw');
    expect(fileTarget({ kind: 'secret', ref: ref('app_db_pw', 'password') })).toBe('/run/secrets/password');
    expect(fileTarget({ kind: 'secret', ref: ref('db_pw', '/etc/db/pw') })).toBe('/etc/db/pw');
  });

  it('a config at its target, or /NAME without one', () => {
    expect(fileTarget({ kind: 'config', ref: ref('app_conf', '/etc/app.conf') })).toBe('/etc/app.conf');
    expect(fileTarget({ kind: 'config', ref: ref('app_conf') })).toBe('/app_conf');
    expect(fileTarget({ kind: 'config', ref: ref('app_conf', 'etc/app.conf') })).toBe('/etc/app.conf');
  });

  it('refuses targets that lead elsewhere, or are no file', () => {
    for (const target of ['../../etc/passwd', '/etc/../../x', '/', '.']) {
      expect(() => fileTarget({ kind: 'secret', ref: ref('s', target) })).toThrow(/not a file path/);
      expect(() => fileTarget({ kind: 'config', ref: ref('c', target) })).toThrow(/not a file path/);
    }
  });
});
