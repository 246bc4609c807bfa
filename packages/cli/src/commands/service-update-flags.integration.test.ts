import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { call, controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import { bashCompletions, flotillaBinDir } from '../output/completion.test-helpers.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { completeCommand, completionCommand } from './completion.js';
import { configCommand, secretCommand } from './file-objects.js';
import { networkCommand } from './network.js';
import { serviceCommand } from './service.js';

// docker's `service create|update` flags that the stored spec shows (capabilities) or that the cluster cannot
// honour (DNS, extra hosts: warned of), and the live names of networks, secrets and configs in shell completion,
// against a manager on a real etcd. The services are written detached: no agent runs their tasks.
const dir = testDirs('cli-upd', ['manager', 'cli', 'files']);
const [cliDir, filesDir] = [dir.cli, dir.files];
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[]) {
  const client = () => controlClient(cliDir);
  return runProgram(
    (io) =>
      buildProgram(
        [
          (i) => serviceCommand(i, client),
          (i) => networkCommand(i, client),
          (i) => secretCommand(i, client),
          (i) => configCommand(i, client),
          completionCommand,
          (i) => completeCommand(i, client),
        ],
        io,
      ),
    args,
    { env: { FLOTILLA_RESOLVE_IMAGE: 'never' } },
  );
}

/** The spec the manager stored, and its version. */
async function stored(name: string): Promise<{ spec: ServiceSpec; version: bigint }> {
  const c = controlClient(cliDir);
  try {
    const { service } = await call(c, c.getService, { service: name });
    return { spec: service?.spec as ServiceSpec, version: service?.specVersion ?? 0n };
  } finally {
    c.close();
  }
}

describe('service create / update flags, stored', () => {
  it('create: DNS and hosts are warned of and not stored; the capabilities are', async () => {
    const created = await flotilla([
      'service',
      'create',
      '--detach',
      '--name=web',
      '--dns=8.8.8.8',
      '--cap-drop=KILL',
      '--cap-drop=MKNOD',
      'nginx:1',
    ]);
    expect(created.code, created.err).toBe(EXIT.ok);
    expect(created.err).toBe('warning: --dns: ignored: tasks use the node resolver that serves service names\n');
    const { spec } = await stored('web');
    expect(spec.container?.capDrop).toEqual(['KILL', 'MKNOD']);
    expect(spec.container?.capAdd).toEqual([]);
  });

  it('update --dns-add --host-add --cap-add --cap-drop --detach: the capabilities change as docker changes them', async () => {
    const before = await stored('web');
    const updated = await flotilla([
      'service',
      'update',
      '--detach',
      '--dns-add=1.1.1.1',
      '--host-add=db:10.0.0.5',
      '--cap-add=kill',
      '--cap-drop=CHOWN',
      'web',
    ]);
    expect(updated.code, updated.err).toBe(EXIT.ok);
    expect(updated.err.split('\n').filter(Boolean).sort()).toEqual([
      'warning: --dns-add: ignored: tasks use the node resolver that serves service names',
      'warning: --host-add: ignored: publish names through services and network aliases instead',
    ]);
    const after = await stored('web');
    expect(after.version).toBe(before.version + 1n);
    // KILL was dropped: adding it takes it off the dropped list (and does not add it); CHOWN is dropped.
    expect(after.spec.container?.capAdd).toEqual([]);
    expect(after.spec.container?.capDrop).toEqual(['CAP_CHOWN', 'CAP_MKNOD']);
    // Nothing else changed.
    expect({ ...after.spec, container: { ...after.spec.container, capDrop: [] } }).toEqual({
      ...before.spec,
      container: { ...before.spec.container, capDrop: [] },
    });
  });

  it('an update the manager refuses (a capability beyond the security profile) changes nothing', async () => {
    const before = await stored('web');
    const refused = await flotilla(['service', 'update', '--detach', '--cap-add=SYS_ADMIN', 'web']);
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.err).toContain('CAP_SYS_ADMIN');
    expect(await stored('web')).toEqual(before);
  });

  it('--entrypoint "" goes back to the image\'s entrypoint', async () => {
    expect((await flotilla(['service', 'update', '-d', '--entrypoint=/bin/run', 'web'])).code).toBe(EXIT.ok);
    expect((await stored('web')).spec.container?.entrypoint).toEqual(['/bin/run']);
    expect((await flotilla(['service', 'update', '-d', '--entrypoint=', 'web'])).code).toBe(EXIT.ok);
    const { spec } = await stored('web');
    expect(spec.container?.entrypoint).toEqual([]);
    expect(spec.container?.entrypointSet).toBe(false);
  });
});

describe('live names of networks, secrets and configs in shell completion', () => {
  it('lists them, and the bash script offers them for the commands and service flags that take one', async () => {
    const content = path.join(filesDir, 'content');
    writeFileSync(content, 'not shown anywhere\n');
    for (const args of [
      ['network', 'create', 'backend'],
      ['secret', 'create', 'db_password', content],
      ['config', 'create', 'app_conf', content],
    ]) {
      const run = await flotilla(args);
      expect(run.code, run.err).toBe(EXIT.ok);
    }
    expect((await flotilla(['__complete', 'networks'])).out.split('\n')).toContain('backend');
    expect((await flotilla(['__complete', 'secrets'])).out).toBe('db_password\n');
    expect((await flotilla(['__complete', 'configs'])).out).toBe('app_conf\n');

    const script = path.join(filesDir, 'flotilla.bash');
    writeFileSync(script, (await flotilla(['completion', 'bash'])).out);
    const env = { PATH: `${flotillaBinDir(filesDir)}:${process.env.PATH}`, FLOTILLA_CONFIG_DIR: cliDir };
    const offered = async (words: string[]) => {
      const { offered: names, stderr } = await bashCompletions(script, words, env);
      expect(stderr).toBe('');
      return names;
    };
    expect(await offered(['flotilla', 'network', 'rm', 'back'])).toEqual(['backend']);
    expect(await offered(['flotilla', 'service', 'update', '--network-add', 'ba'])).toEqual(['backend']);
    expect(await offered(['flotilla', 'secret', 'inspect', ''])).toEqual(['db_password']);
    expect(await offered(['flotilla', 'service', 'create', '--config', 'app'])).toEqual(['app_conf']);
    // A secret's name is offered, never its content; a flag that takes none of them offers none.
    expect(await offered(['flotilla', 'service', 'update', '--secret-rm', ''])).toEqual(['db_password']);
    expect(await offered(['flotilla', 'service', 'update', '--env-add', 'db'])).toEqual([]);
  }, 60_000);
});
