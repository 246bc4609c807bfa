import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildImage, RegistryClient } from '@flotilla/registry';
import {
  freePort,
  HollowNodes,
  ManagedProcess,
  startEtcd,
  startRegistry,
  type TestRegistry,
  type TestServer,
  tempDir,
} from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// `stack deploy` pins each tag to its digest through a real registry (on loopback), through the built command
// against a manager process, with hollow nodes running the tasks.
const dirs = [tempDir('pin-manager'), tempDir('pin-cli'), tempDir('pin-files')];
const env = { ...process.env, FLOTILLA_CONFIG_DIR: dirs[1]?.path as string, LOG_LEVEL: 'warn', HOME: dirs[2]?.path };
let etcd: TestServer;
let registry: TestRegistry;
let pusher: RegistryClient;
let manager: ChildProcess;
let hollow: HollowNodes | undefined;
let app = '';

const capture = (args: string[]) => runFlotilla(args, env);

/** Pushes an image whose bytes differ by `text` under `app`; returns its digest. */
async function push(text: string): Promise<string> {
  return pusher.pushImage(app, await buildImage({ files: [{ type: 'file', path: 'release', content: text }] }));
}

function stackFile(name: string, image: string): string {
  const file = path.join(dirs[2]?.path as string, `${name}.yml`);
  writeFileSync(
    file,
    `services:\n  app:\n    image: ${image}\n    deploy:\n      replicas: 3\n` +
      '      update_config: { parallelism: 3, monitor: 200ms }\n',
  );
  return file;
}

interface TaskJson {
  id: string;
  desiredState: string;
  status: { state: string };
  spec: { image: string };
}

/** The images the service's tasks that should run are running. */
async function running(service: string): Promise<{ ids: string[]; images: string[] }> {
  const tasks = JSON.parse((await capture(['service', 'ps', service, '--format', 'raw'])).stdout) as TaskJson[];
  const live = tasks.filter((t) => t.desiredState === 'TASK_STATE_RUNNING' && t.status.state === 'TASK_STATE_RUNNING');
  return { ids: live.map((t) => t.id).sort(), images: live.map((t) => t.spec.image) };
}

async function inspect(service: string): Promise<{ specVersion: string; spec: { container: { image: string } } }> {
  return JSON.parse((await capture(['service', 'inspect', '--format', 'raw', service])).stdout)[0];
}

beforeAll(async () => {
  [etcd, registry] = await Promise.all([startEtcd(), startRegistry()]);
  pusher = new RegistryClient();
  app = `${registry.address}/e2e/app:1`;
  let output = '';
  manager = spawn(
    bin,
    ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
    { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  manager.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 30_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(output)) {
    if (Date.now() > deadline || manager.exitCode !== null) throw new Error(`the manager did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const address = /listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  const token = (await capture(['join-token', 'worker', '-q'])).stdout.trim();
  hollow = await HollowNodes.start({ manager: address, token, count: 3 });
});

afterAll(async () => {
  hollow?.stop();
  pusher?.close();
  if (manager?.exitCode === null) {
    manager.kill('SIGTERM');
    await new Promise((r) => manager.once('exit', r));
  }
  await Promise.all([etcd?.destroy(), registry?.stop()]);
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

describe('stack deploy pins images to digests', () => {
  it('runs the digest, shows tag and digest, and rolls every task when the tag moves', async () => {
    const first = await push('one');
    const file = stackFile('pins', app);
    const deployed = await capture(['stack', 'deploy', '--wait', '--timeout', '60s', '-c', file, 'pins']);
    expect(deployed.code, deployed.output).toBe(0);
    expect(deployed.stdout).toContain(`Image ${app} pinned to ${first} (pins_app)`);
    const before = await running('pins_app');
    expect(before.images).toEqual([1, 2, 3].map(() => `${app}@${first}`));

    // The table shows the tag and a short digest; JSON and inspect the whole reference.
    const table = (await capture(['service', 'ps', 'pins_app'])).stdout;
    expect(table).toContain(`${app}@${first.slice(0, 'sha256:'.length + 12)} `);
    expect(table).not.toContain(first);
    expect((await inspect('pins_app')).spec.container.image).toBe(`${app}@${first}`);

    // The same file with the tag where it was: nothing to do.
    const again = await capture(['stack', 'deploy', '-c', file, 'pins']);
    expect(again.stdout).toContain('Unchanged service pins_app');

    const second = await push('two');
    // changed: the reference in the file is the deployed one, so its pin stays although the tag moved.
    const kept = await capture(['stack', 'deploy', '--resolve-image', 'changed', '-c', file, 'pins']);
    expect(kept.stdout).toContain(`Image ${app} kept at ${first} (pins_app: reference unchanged)`);
    expect(kept.stdout).toContain('Unchanged service pins_app');
    expect((await running('pins_app')).ids).toEqual(before.ids);

    const plan = await capture(['stack', 'deploy', '--dry-run', '-c', file, 'pins']);
    expect(plan.stdout).toContain(`container.image: ${app}@${first} → ${app}@${second}`);
    expect(plan.stdout).toContain(`Image ${app} pinned to ${second} (pins_app)`);

    // always (the default): the tag moved, so the service rolls to the new bytes, every task of it.
    const rolled = await capture(['stack', 'deploy', '--wait', '--timeout', '60s', '-c', file, 'pins']);
    expect(rolled.code, rolled.output).toBe(0);
    expect(rolled.stdout).toContain('Updating service pins_app');
    await expect
      .poll(async () => (await running('pins_app')).images, { timeout: 30_000, interval: 300 })
      .toEqual([1, 2, 3].map(() => `${app}@${second}`));
  });

  it('refuses the whole deploy for a tag that does not exist or a registry that is away; what runs stays', async () => {
    const before = await inspect('pins_app');
    const tasks = await running('pins_app');
    const away = `127.0.0.1:${await freePort()}/e2e/app:1`;
    for (const image of [`${registry.address}/e2e/app:404`, away]) {
      const refused = await capture(['stack', 'deploy', '-c', stackFile('pins', image), 'pins']);
      expect(refused.code).toBe(1);
      expect(refused.output).toContain('nothing was deployed');
      expect(refused.output).toContain(`pins_app: ${image}:`);
      expect(refused.output).toContain('--resolve-image never');
      expect(await inspect('pins_app')).toEqual(before);
      expect(await running('pins_app')).toEqual(tasks);
    }
  });

  it('keeps the tag under never, and says so', async () => {
    const loose = await capture([
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      stackFile('loose', app),
      'loose',
    ]);
    expect(loose.code, loose.output).toBe(0);
    expect(loose.output).toContain('Images not pinned to digests (--resolve-image never)');
    expect((await inspect('loose_app')).spec.container.image).toBe(app);
  });
});
