import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import type { Io } from '../io.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { configCommand, MAX_CONTENT_BYTES, secretCommand } from './file-objects.js';

// `flotilla secret …` and `flotilla config …` against a manager on a real etcd, through the CLI's own
// configuration directory (the operator certificate the manager wrote).
const dir = testDirs('cli-files', ['manager', 'cli', 'input']);
const [cliDir, inputDir] = [dir.cli, dir.input];
const PASSWORD = `pw-${randomBytes(10).toString('hex')}`;
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[], stdin?: Buffer) {
  const client = () => controlClient(cliDir);
  const build = (io: Io) => buildProgram([(i) => secretCommand(i, client), (i) => configCommand(i, client)], io);
  return runProgram(build, args, stdin ? { stdin } : {});
}

function input(name: string, content: string | Buffer): string {
  const file = path.join(inputDir, name);
  writeFileSync(file, content);
  return file;
}

describe('flotilla secret and config', () => {
  it('creates from a file or stdin, lists, and inspects without content', async () => {
    const created = await flotilla(['secret', 'create', '--label', 'team=a', 'db_pw', input('pw', PASSWORD)]);
    expect(created).toMatchObject({ code: 0, err: '' });
    const id = created.out.trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    expect((await flotilla(['secret', 'create', 'api_key', '-'], Buffer.from('k3y'))).code).toBe(0);

    const ls = await flotilla(['secret', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.out).toMatch(/^ID\s+NAME\s+VERSION\s+STACK\s+CREATED\s+USED BY\n/);
    expect(ls.out).toMatch(new RegExp(`${id}\\s+db_pw\\s+1\\s+-\\s+\\d+ seconds? ago`));
    expect((await flotilla(['secret', 'ls', '-q'])).out.trim().split('\n')).toHaveLength(2);
    const json = JSON.parse((await flotilla(['secret', 'ls', '--format', 'json'])).out) as { name: string }[];
    expect(json.map((o) => o.name)).toEqual(['api_key', 'db_pw']);

    const inspect = await flotilla(['secret', 'inspect', 'db_pw', id]);
    expect(inspect.code).toBe(0);
    const shown = JSON.parse(inspect.out) as { id: string; labels: Record<string, string>; size: number }[];
    expect(shown.map((o) => o.id)).toEqual([id, id]);
    expect(shown[0]).toMatchObject({ labels: { team: 'a' }, size: PASSWORD.length });
    for (const text of [ls.out, inspect.out, created.out]) expect(text).not.toContain(PASSWORD);
  });

  it('shows a config with its content on inspect --pretty; a secret has no --pretty', async () => {
    expect((await flotilla(['config', 'create', 'nginx.conf', input('conf', 'listen 80;\n')])).code).toBe(0);
    const pretty = await flotilla(['config', 'inspect', '--pretty', 'nginx.conf']);
    expect(pretty.code).toBe(0);
    expect(pretty.out).toMatch(/Name:\s+nginx\.conf\n/);
    expect(pretty.out).toContain('Data:\nlisten 80;\n');
    const plain = await flotilla(['config', 'inspect', 'nginx.conf']);
    expect(plain.out).not.toContain('listen 80');
    expect((await flotilla(['secret', 'inspect', '--pretty', 'db_pw'])).code).toBe(EXIT.usage);
    // Configs and secrets are listed apart.
    expect((await flotilla(['config', 'ls', '-q'])).out.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 for bad usage, 1 for a refusal, and never prints the content it refused', async () => {
    expect((await flotilla(['secret', 'create', 'only_name'])).code).toBe(EXIT.usage);
    const label = await flotilla(['secret', 'create', '--label', 'novalue', 'x', input('x', 'x')]);
    expect(label).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--label takes KEY=VALUE') });
    const taken = await flotilla(['secret', 'create', 'db_pw', input('again', 'other')]);
    expect(taken).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('secret db_pw exists') });
    const badName = await flotilla(['secret', 'create', 'bad/name', input('y', 'y')]);
    expect(badName).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('letters, digits') });
    const big = await flotilla(['secret', 'create', 'big', input('big', Buffer.alloc(MAX_CONTENT_BYTES + 1, 'Q'))]);
    expect(big).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('more than a secret may hold') });
    expect(big.err).not.toContain('QQQQ');
    const fromStdin = await flotilla(['secret', 'create', 'big', '-'], Buffer.alloc(MAX_CONTENT_BYTES + 1, 'Q'));
    expect(fromStdin).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('standard input') });
    const missing = await flotilla(['secret', 'create', 'gone', path.join(inputDir, 'nope')]);
    expect(missing).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('ENOENT') });
    expect((await flotilla(['secret', 'ls', '-q'])).out.trim().split('\n')).toHaveLength(2);
  });

  it('removes by name or ID; one not found does not keep the others, and exits 1', async () => {
    const id = (await flotilla(['secret', 'ls', '-q'])).out.trim().split('\n')[0] as string;
    const rm = await flotilla(['secret', 'rm', 'nope', id, 'db_pw']);
    expect(rm.code).toBe(EXIT.failed);
    expect(rm.err).toContain('no secret nope');
    expect(rm.out.trim().split('\n')).toEqual([id, 'db_pw']);
    expect((await flotilla(['secret', 'ls', '-q'])).out).toBe('');
    expect((await flotilla(['config', 'rm', 'nginx.conf'])).code).toBe(0);
  });
});
