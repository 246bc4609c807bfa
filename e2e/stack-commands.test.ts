import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { HollowNodes, ManagedProcess, startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// The operator's commands for stacks and services, through the built `flotilla` command against a manager
// process, with hollow nodes running the tasks.
const dirs = [
  tempDir('stack-cmd-manager'),
  tempDir('stack-cmd-cli'),
  tempDir('stack-cmd-restored'),
  tempDir('stack-cmd-restored-cli'),
];
// The images are made up (hollow nodes pull nothing): deploys do not pin them to digests.
const env = {
  ...process.env,
  FLOTILLA_CONFIG_DIR: dirs[1]?.path as string,
  LOG_LEVEL: 'warn',
  FLOTILLA_RESOLVE_IMAGE: 'never',
};
let etcd: TestServer;
let manager: ChildProcess;
let hollow: HollowNodes | undefined;

const capture = (args: string[]) => runFlotilla(args, env);

beforeAll(async () => {
  etcd = await startEtcd();
  let output = '';
  manager = spawn(
    bin,
    ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
    {
      cwd: root,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
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
  // Tasks of broken:1 fail to start: a bad release for `stack deploy --wait`.
  hollow = await HollowNodes.start({ manager: address, token, count: 3, failImages: ['broken:1'] });
});

afterAll(async () => {
  hollow?.stop();
  if (manager?.exitCode === null) {
    manager.kill('SIGTERM');
    await new Promise((r) => manager.once('exit', r));
  }
  await etcd?.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
});

describe('stack and service commands', () => {
  it('deploys the example stack, lists it, scales it and removes it', async () => {
    const deployed = await capture(['stack', 'deploy', '-c', 'examples/web/stack.yml', 'web']);
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toBe('Creating service web_web\n');
    const again = await capture(['stack', 'deploy', '-c', 'examples/web/stack.yml', 'web']);
    expect(again.stdout).toBe('Unchanged service web_web\n');

    await expect
      .poll(async () => (await capture(['service', 'ls'])).stdout, { timeout: 20_000, interval: 300 })
      .toMatch(/web_web\s+replicated\s+3\/3\s+198\.19\.0\.1:5000\/flotilla-examples\/busybox:1/);
    expect((await capture(['stack', 'ls'])).stdout).toMatch(/^NAME\s+SERVICES\nweb\s+1\n$/);
    const ps = await capture(['stack', 'ps', 'web']);
    expect(ps.stdout).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR/);
    expect(
      ps.stdout.match(
        /web_web\.\d\s+198\.19\.0\.1:5000\/flotilla-examples\/busybox:1\s+hollow-\d\s+running\s+running/g,
      ),
    ).toHaveLength(3);

    expect((await capture(['service', 'scale', '--detach', 'web_web=5'])).code).toBe(0);
    await expect
      .poll(async () => JSON.parse((await capture(['service', 'ls', '--format', 'json'])).stdout)[0].Running, {
        timeout: 20_000,
        interval: 300,
      })
      .toBe(5);
    const tasks = JSON.parse((await capture(['service', 'ps', 'web_web', '--format', 'json'])).stdout);
    expect(tasks.filter((t: { DesiredState: string }) => t.DesiredState === 'running')).toHaveLength(5);

    const bad = await capture(['service', 'scale', 'web_web=x']);
    expect(bad.code).toBe(2);
    const missing = await capture(['service', 'ps', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.output).toContain('no service "nope"');

    expect((await capture(['stack', 'rm', 'web'])).stdout).toBe('Removing service web_web\n');
    await expect
      .poll(async () => (await capture(['stack', 'ls'])).stdout, { timeout: 10_000 })
      .toBe('NAME   SERVICES\n');
  });

  it('shows and changes cluster settings, refusing a self-fence timeout past the heartbeat grace', async () => {
    const inspected = await capture(['cluster', 'inspect']);
    const before = JSON.parse(inspected.stdout);
    expect(before.settings).toMatchObject({ placementStrategy: 'STRATEGY_SPREAD', selfFenceTimeoutMs: '2000' });
    // The test's etcd is plaintext: the manager says so, and what to do, on stderr and in the JSON.
    // One manager: it tolerates no failure, and says what to add.
    expect(before.warnings).toEqual([
      expect.stringContaining(`plaintext (${etcd.url})`),
      expect.stringMatching(/one manager.*add two more/),
    ]);
    expect(inspected.output).toContain('warning: etcd is reached in plaintext');
    const updated = await capture(['cluster', 'update', '--placement-strategy', 'binpack', '--rebalance', 'off']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      placementStrategy: 'STRATEGY_BINPACK',
      rebalanceDisabled: true,
    });
    const refused = await capture(['cluster', 'update', '--self-fence-timeout', '5s']);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('below the heartbeat grace');
    expect(JSON.parse((await capture(['cluster', 'inspect'])).stdout).settings.selfFenceTimeoutMs).toBe('2000');
    expect((await capture(['cluster', 'update', '--self-fence-timeout', 'soon'])).code).toBe(2);
  });

  it('deploy --dry-run prints the plan, as text or JSON, and changes nothing', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = (name: string, text: string) => {
      const at = path.join(dirs[1]?.path as string, name);
      writeFileSync(at, text);
      return at;
    };
    const first = file(
      'plan1.yml',
      'services:\n  front:\n    image: nginx:1.25\n    deploy:\n      replicas: 2\n  worker:\n    image: busybox\n  old:\n    image: redis\n',
    );
    // Each node (8 GiB) takes one 6 GiB task of api, so one of its four stays pending.
    const next = file(
      'plan2.yml',
      [
        'services:',
        '  front:',
        '    image: nginx:1.27',
        '    environment: { MODE: prod }',
        '    deploy: { replicas: 2 }',
        '  worker:',
        '    image: busybox',
        '    deploy: { replicas: 3 }',
        '  api:',
        '    image: api:2',
        '    deploy:',
        '      replicas: 4',
        '      resources: { reservations: { memory: 6G } }',
        '',
      ].join('\n'),
    );
    expect((await capture(['stack', 'deploy', '-c', first, 'shop'])).code).toBe(0);
    const services = async () =>
      // The spec version is the API's: docker's listing has no place for it.
      JSON.parse((await capture(['service', 'ls', '--stack', 'shop', '--format', 'raw'])).stdout).map(
        (s: { spec: { annotations: { name: string }; container: { image: string } }; specVersion: string }) => [
          s.spec.annotations.name,
          s.spec.container.image,
          s.specVersion,
        ],
      );
    const before = await services();

    const plan = await capture(['stack', 'deploy', '--dry-run', '--prune', '-c', next, 'shop']);
    expect(plan.code).toBe(0);
    const lines = plan.stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'Plan for stack shop (nothing was changed):',
      '  ~ shop_front   update   tasks replaced (spec version 1 → 2)',
      '      container.image: nginx:1.25 → nginx:1.27',
      '      container.env[MODE]: (unset) → prod',
      expect.stringMatching(/^ {2}~ shop_worker {2}update {3}scaled 1 → 3 \(no task replaced\): hollow-\d ×\d/),
    ]);
    expect(lines.slice(5)).toEqual([
      '      replicas: 1 → 3',
      '  + shop_api     create   4 tasks: hollow-0 ×1, hollow-1 ×1, hollow-2 ×1, 1 pending',
      '  - shop_old     remove   (--prune)',
      '1 task would stay pending: shop_api: no suitable node (insufficient memory on 3 nodes)',
      '',
    ]);
    expect(await services()).toEqual(before);

    const json = await capture(['stack', 'deploy', '--dry-run', '-c', next, 'shop', '--format', 'json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { services: { name: string; action: string; tasks: string }[] };
    expect(parsed.services.map((s) => [s.name, s.action, s.tasks])).toEqual([
      ['shop_front', 'ACTION_UPDATE', 'TASKS_REPLACED'],
      ['shop_worker', 'ACTION_UPDATE', 'TASKS_SCALED'],
      ['shop_api', 'ACTION_CREATE', 'TASKS_NONE'],
    ]);

    const bad = file('plan-bad.yml', 'services:\n  web:\n    imgae: nginx\n');
    const refused = await capture(['stack', 'deploy', '--dry-run', '-c', bad, 'shop']);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/plan-bad\.yml:3:5: services\.web\.imgae: unknown key "imgae"/);

    expect(await services()).toEqual(before);
    expect((await capture(['stack', 'rm', 'shop'])).code).toBe(0);
  });

  it('deploy --wait exits 0 once every service converged, 1 with the reason when an update pauses', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = (name: string, image: string, extra = '') => {
      const at = path.join(dirs[1]?.path as string, name);
      writeFileSync(
        at,
        [
          'services:',
          '  api:',
          `    image: ${image}`,
          '    deploy:',
          '      replicas: 2',
          '      update_config: { parallelism: 1, monitor: 500ms, failure_action: pause }',
          '      restart_policy: { delay: 100ms }',
          extra,
        ].join('\n'),
      );
      return at;
    };
    const created = await capture(['stack', 'deploy', '--wait', '-c', file('w1.yml', 'api:1'), 'waiting']);
    expect(created.output).toMatch(/waiting_api: converged, 2\/2 running\n/);
    expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Creating service waiting_api\n/) });
    expect(created.stdout).toMatch(/stack waiting: 1 service converged\n$/);

    const updated = await capture(['stack', 'deploy', '--wait', '-c', file('w2.yml', 'api:2'), 'waiting']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/^Updating service waiting_api\n/);
    // The update takes two monitor periods (one task at a time): at least one poll sees it under way.
    expect(updated.stdout).toMatch(/waiting_api: \d\/2 running \(spec 2\), update in progress\n/);
    expect(updated.stdout).toMatch(/waiting_api: converged, 2\/2 running \(spec 2\)\n/);

    const started = Date.now();
    const paused = await capture(['stack', 'deploy', '--wait', '-c', file('w3.yml', 'broken:1'), 'waiting']);
    expect(paused.code).toBe(1);
    expect(paused.output).toContain('waiting_api: update paused: 1 of 2 new tasks failed (simulated failure)');
    expect(paused.output).toContain('see the tasks and their errors: flotilla stack ps waiting');
    // Paused is an outcome: no waiting for the timeout.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await capture(['stack', 'rm', 'waiting'])).code).toBe(0);
  });

  it('deploy --wait fails a new service whose tasks keep failing; --no-wait returns at once; --timeout', async () => {
    const { writeFileSync } = await import('node:fs');
    const at = path.join(dirs[1]?.path as string, 'broken.yml');
    writeFileSync(at, 'services:\n  api:\n    image: broken:1\n    deploy:\n      restart_policy: { delay: 100ms }\n');
    const failing = await capture(['stack', 'deploy', '--wait', '-c', at, 'broken']);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/^Creating service broken_api\n/);
    expect(failing.output).toContain('broken_api: 3 tasks in a row failed to run (simulated failure)');

    const started = Date.now();
    const quick = await capture(['stack', 'deploy', '--no-wait', '-c', at, 'quick']);
    expect(quick).toMatchObject({ code: 0, stdout: 'Creating service quick_api\n' });
    expect(Date.now() - started).toBeLessThan(10_000);

    // More memory than any node has: the task stays pending until the timeout.
    const big = path.join(dirs[1]?.path as string, 'big.yml');
    writeFileSync(
      big,
      'services:\n  db:\n    image: db:1\n    deploy:\n      resources: { reservations: { memory: 100G } }\n',
    );
    const late = await capture(['stack', 'deploy', '--wait', '--timeout', '2s', '-c', big, 'big']);
    expect(late.code).toBe(1);
    expect(late.output).toMatch(/timed out after 2s: big_db 0\/1 running, pending: no suitable node/);
    expect((await capture(['stack', 'deploy', '--timeout', 'soon', '-c', big, 'big'])).code).toBe(2);
    for (const stack of ['broken', 'quick', 'big']) expect((await capture(['stack', 'rm', stack])).code).toBe(0);
  });

  it('refuses an invalid stack file with file:line:col and deploys nothing', async () => {
    const file = path.join(dirs[1]?.path as string, 'bad.yml');
    (await import('node:fs')).writeFileSync(file, 'services:\n  web:\n    imgae: nginx\n');
    const result = await capture(['stack', 'deploy', '-c', file, 'bad']);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/bad\.yml:3:5: services\.web\.imgae: unknown key "imgae"/);
    expect((await capture(['service', 'ls', '--format', 'json'])).stdout).toBe('[]\n');
  });

  it("refuses what the cluster's admission policy does not admit, at its file:line:col, and deploys nothing", async () => {
    const file = path.join(dirs[1]?.path as string, 'risky.yml');
    const yaml =
      'services:\n  mon:\n    image: busybox\n    cap_add: [CHOWN, SYS_ADMIN]\n    volumes:\n      - /var/run:/run/host\n';
    (await import('node:fs')).writeFileSync(file, yaml);
    for (const dryRun of [[], ['--dry-run']]) {
      const result = await capture(['stack', 'deploy', '-c', file, ...dryRun, 'risky']);
      expect(result.code).toBe(1);
      expect(result.output).toMatch(
        /risky\.yml:4:22: services\.mon\.cap_add\[1\]: CAP_SYS_ADMIN, beyond Docker's default/,
      );
      expect(result.output).toMatch(
        /risky\.yml:6:9: services\.mon\.volumes\[0\]: binding host path \/var\/run is refused/,
      );
      expect(result.output).toContain('--security-profile privileged');
      expect(result.output).toContain('flotilla cluster update --allow-bind /var/run');
    }
    expect((await capture(['service', 'ls', '--format', 'json'])).stdout).toBe('[]\n');

    const updated = await capture([
      'cluster',
      'update',
      '--security-profile',
      'restricted',
      '--allow-bind',
      '/srv/,/data',
    ]);
    expect(updated.code).toBe(0);
    const inspected = JSON.parse((await capture(['cluster', 'inspect'])).stdout);
    expect(inspected).toMatchObject({ securityProfile: 'restricted', allowedBindPrefixes: ['/data', '/srv'] });
    expect((await capture(['cluster', 'update', '--allow-bind', 'srv'])).code).toBe(2);
    await capture(['cluster', 'update', '--security-profile', 'baseline', '--allow-bind', '']);
    expect(JSON.parse((await capture(['cluster', 'inspect'])).stdout)).toMatchObject({
      securityProfile: 'baseline',
      allowedBindPrefixes: [],
    });
  });

  it('cluster backup writes an encrypted file; cluster restore brings the services back on a new etcd', async () => {
    const deployed = await capture(['stack', 'deploy', '-c', 'examples/web/stack.yml', 'kept']);
    expect(deployed.code, deployed.output).toBe(0);
    await expect
      .poll(async () => (await capture(['service', 'ls'])).stdout, { timeout: 20_000, interval: 300 })
      .toMatch(/kept_web\s+replicated\s+3\/3/);
    const file = path.join(dirs[2]?.path as string, 'cluster.backup');
    // No passphrase: a usage error that says where to give it.
    const bare = await runFlotilla(['cluster', 'backup', file], { ...env, FLOTILLA_BACKUP_PASSPHRASE: '' });
    expect(bare.code).toBe(2);
    expect(bare.output).toMatch(/--passphrase-file FILE or \$FLOTILLA_BACKUP_PASSPHRASE/);
    const secretEnv = { ...env, FLOTILLA_BACKUP_PASSPHRASE: 'a passphrase for the e2e test' };
    const backup = await runFlotilla(['cluster', 'backup', file], secretEnv);
    expect(backup.code, backup.output).toBe(0);
    expect(backup.output).toMatch(/backup of cluster \w+: \d+ objects/);

    const fresh = await startEtcd();
    const stateDir = path.join(dirs[2]?.path as string, 'state');
    try {
      const restored = await runFlotilla(
        ['cluster', 'restore', file, '--state-dir', stateDir, '--etcd', fresh.url],
        secretEnv,
      );
      expect(restored.code, restored.output).toBe(0);
      expect(restored.output).toContain(`flotilla manager start --state-dir ${stateDir} --etcd ${fresh.url}`);
      // The restored cluster is the same cluster: its manager starts on the new etcd and lists the same service.
      const restoredEnv = { ...env, FLOTILLA_CONFIG_DIR: dirs[3]?.path as string };
      const started = spawn(
        bin,
        ['manager', 'start', '--etcd', fresh.url, '--listen', '127.0.0.1:0', '--state-dir', stateDir],
        { cwd: root, env: restoredEnv, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let output = '';
      started.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const exited = new Promise((r) => started.once('exit', r));
      try {
        await expect
          .poll(async () => (await runFlotilla(['service', 'ls'], restoredEnv)).stdout, {
            timeout: 20_000,
            interval: 300,
          })
          .toMatch(/kept_web\s+replicated/);
        const inspected = JSON.parse((await runFlotilla(['cluster', 'inspect'], restoredEnv)).stdout);
        expect(inspected.id, output).toBe(JSON.parse((await capture(['cluster', 'inspect'])).stdout).id);
      } finally {
        if (started.exitCode === null) started.kill('SIGTERM');
        await exited;
      }
    } finally {
      await fresh.destroy();
    }
    expect((await capture(['stack', 'rm', 'kept'])).code).toBe(0);
  });
});
