import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import type { StackError } from './diagnostics.js';
import { LIMITS } from './limits.js';
import { type FileSource, type LoadedStack, loadStack } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

// Secrets and configs as a Compose file writes them: where their content comes from, how a service names them,
// and that nothing which shows the stack shows a value.
const DIR = '/project';
const BINARY = Buffer.from([0x00, 0xff, 0x10, 0x80]);

/** The stack file and its secret files, in memory. */
function load(yaml: string, env: Record<string, string> = {}): LoadedStack {
  const files = new Map<string, string | Buffer>([
    [path.join(DIR, 'stack.yml'), yaml],
    [path.join(DIR, 'db_password.txt'), 'hunter2\n'],
    [path.join(DIR, 'key.bin'), BINARY],
    [path.join(DIR, 'huge.pem'), Buffer.alloc(LIMITS.maxFileObjectBytes + 1, 'x')],
  ]);
  const source: FileSource = {
    read: (f) => String(files.get(f) ?? ''),
    readBytes: (f) => Buffer.from(files.get(f) ?? ''),
    exists: (f) => files.has(f),
  };
  return loadStack({ files: [path.join(DIR, 'stack.yml')], env, envFile: false }, source);
}

const TOP = `
services:
  db:
    image: postgres
    secrets:
      - db_password
      - source: tls_key
        target: server.key
        uid: "999"
        gid: "999"
        mode: "0400"
      - source: api_token
        mode: 0440
      - source: legacy
        mode: 288
    configs:
      - db_conf
      - source: banner
        target: /etc/banner
        mode: "640"
secrets:
  db_password:
    file: ./db_password.txt
  tls_key:
    file: ./key.bin
  api_token:
    environment: API_TOKEN
  legacy:
    external:
      name: shared_legacy
configs:
  db_conf:
    content: "max_connections = 20"
  banner:
    external: true
    name: site_banner
`;

describe('stack secrets and configs', () => {
  it('reads each object from file, environment or content, by bytes, and externals from nowhere', () => {
    const loaded = load(TOP, { API_TOKEN: 'tok-123' });
    const spec = toStackSpec(loaded.stack, 'app', loaded.objectData);
    const data = Object.fromEntries(
      [...spec.secrets, ...spec.configs].map((o) => [o.annotations?.name, [o.external, Buffer.from(o.data)]]),
    );
    expect(data).toEqual({
      app_db_password: [false, Buffer.from('hunter2\n')],
      app_tls_key: [false, BINARY],
      app_api_token: [false, Buffer.from('tok-123')],
      shared_legacy: [true, Buffer.alloc(0)],
      app_db_conf: [false, Buffer.from('max_connections = 20')],
      site_banner: [true, Buffer.alloc(0)],
    });
  });

  it('names the objects as the service refers to them, with default targets, uid, gid and modes', () => {
    const loaded = load(TOP, { API_TOKEN: 't' });
    const container = toStackSpec(loaded.stack, 'app', loaded.objectData).services[0]?.container;
    const refs = (list: typeof container extends undefined ? never : NonNullable<typeof container>['secrets']) =>
      list.map((r) => [r.source, r.target, r.uid, r.gid, r.mode.toString(8)]);
    expect(refs(container?.secrets ?? [])).toEqual([
      ['app_db_password', '/run/secrets/db_password', '', '', '444'],
      ['app_tls_key', '/run/secrets/server.key', '999', '999', '400'],
      ['app_api_token', '/run/secrets/api_token', '', '', '440'],
      // The legacy external name is the object's name; 288 as a number is taken as given (0o440).
      ['shared_legacy', '/run/secrets/legacy', '', '', '440'],
    ]);
    expect(refs(container?.configs ?? [])).toEqual([
      ['app_db_conf', '/db_conf', '', '', '444'],
      ['site_banner', '/etc/banner', '', '', '640'],
    ]);
  });

  it('shows the objects in stack config but never a value', () => {
    const loaded = load(TOP, { API_TOKEN: 'tok-123' });
    const out = formatCompose(loaded.stack, 'yaml');
    const json = formatCompose(loaded.stack, 'json');
    expect(out).toContain('api_token:\n    environment: API_TOKEN');
    expect(out).toContain('content: (20 bytes, not shown)');
    expect(out).toContain('name: shared_legacy');
    expect(out).toContain('mode: "0400"');
    for (const value of ['tok-123', 'max_connections', 'hunter2']) {
      expect(out).not.toContain(value);
      expect(json).not.toContain(value);
    }
    // What it prints reads back the same (the modes as octal strings).
    const again = load(out.replace(/content: .*/, 'content: x'), { API_TOKEN: 't' });
    expect(again.stack.services.db?.secrets.map((s) => s.mode)).toEqual([undefined, 0o400, 0o440, 0o440]);
  });

  it('refuses a mode that is not octal, and a variable that is not set, at their lines', () => {
    const badMode = loadErrors(
      'services:\n  a:\n    image: x\n    secrets:\n      - source: s\n        mode: "0948"\nsecrets:\n  s:\n    external: true\n',
    );
    expect(badMode).toMatch(/\/stack\.yml:6:\d+: .*invalid file mode "0948"/);
    const unset = loadErrors(
      'services:\n  a:\n    image: x\n    secrets: [s]\nsecrets:\n  s:\n    environment: NOPE\n',
    );
    expect(unset).toMatch(/\/stack\.yml:7:\d+: secrets\.s\.environment: variable NOPE is not set/);
  });

  it('refuses a content over 500 KiB at its line, from a file or from content:', () => {
    const big = `services:\n  a:\n    image: x\nsecrets:\n  tls:\n    file: ./huge.pem\n  ok:\n    file: ./key.bin\n`;
    let message = '';
    try {
      load(big);
    } catch (err) {
      message = (err as StackError).format();
    }
    expect(message).toMatch(/stack\.yml:6:\d+: secrets\.tls\.file: the secret's content is 512001 bytes/);
    expect(message).not.toContain('secrets.ok');
    const inline = `services:\n  a:\n    image: x\nconfigs:\n  c:\n    content: ${'y'.repeat(LIMITS.maxFileObjectBytes + 1)}\n`;
    expect(loadErrors(inline)).toMatch(/stack\.yml:6:\d+: configs\.c\.content: the config's content is 512001 bytes/);
  });

  it('refuses a legacy external name that contradicts name:, and an object with two sources', () => {
    const both = loadErrors(
      'services:\n  a:\n    image: x\nsecrets:\n  s:\n    name: one\n    external:\n      name: two\n',
    );
    expect(both).toMatch(/\/stack\.yml:\d+:\d+: .*external\.name \(two\) and name \(one\) differ/);
    expect(loadErrors('services:\n  a:\n    image: x\nconfigs:\n  c:\n    content: a\n    external: true\n')).toMatch(
      /\/stack\.yml:6:\d+: .*a config takes only one of external, content/,
    );
  });
});
