import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectRedis, disconnectRedis, nodeUserName, whenReady } from '@flotilla/events';
import { REDIS_SERVER_NAME } from '@flotilla/manager';
import {
  type DaemonProcess,
  freePort,
  pushTestImages,
  startContainerd,
  startDaemon,
  startEtcd,
  startRedis,
  startRegistry,
  type TestContainerd,
  type TestRegistry,
  type TestServer,
  tempDir,
} from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, root, runFlotilla } from './flotilla-command.js';

// One real node: the built `flotilla` manager and agent processes, the agent driving a private containerd that
// pulls from a local registry; logs through Redis as production runs it (TLS only, a certificate from
// `flotilla manager redis-tls`, the managers' password, a user per node). Build → push → deploy as in production.
const isRoot = process.getuid?.() === 0;

let etcd: TestServer;
let redis: TestServer;
let registry: TestRegistry;
let containerd: TestContainerd;
let image = '';
let redisCaFile = '';
const dirs = [tempDir('e2e-ctr-manager'), tempDir('e2e-ctr-agent'), tempDir('e2e-ctr-cli'), tempDir('e2e-ctr-redis')];
const [managerDir, agentDir, cliDir, redisDir] = dirs.map((d) => d.path) as [string, string, string, string];
const env = { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: 'warn' };
const children: DaemonProcess[] = [];

function daemon(args: string[]): DaemonProcess {
  const d = startDaemon(bin, args, { cwd: root, env });
  children.push(d);
  return d;
}

const cli = (args: string[]) => runFlotilla(args, env);
const ctr = (...args: string[]) =>
  execFileSync('ctr', ['-a', containerd.socket, '-n', containerd.namespace, ...args]).toString();

interface PsTask {
  id: string;
  slot: number;
  desiredState: string;
  status: { state: string; health?: string; error?: string; message?: string };
}
async function tasks(service: string): Promise<PsTask[]> {
  const ps = await cli(['service', 'ps', '--format', 'raw', service]);
  return ps.code === 0 ? (JSON.parse(ps.stdout) as PsTask[]) : [];
}
const running = (ts: PsTask[]) => ts.filter((t) => t.status.state === 'TASK_STATE_RUNNING');

let manager: ReturnType<typeof daemon>;
let agent: ReturnType<typeof daemon>;
let managerAddress = '';

function startAgentProcess(join?: string[]): ReturnType<typeof daemon> {
  return daemon([
    'agent',
    'start',
    ...(join ?? []),
    '--state-dir',
    agentDir,
    '--hostname',
    'ctr-node',
    '--executor',
    'containerd',
    '--containerd-socket',
    containerd.socket,
    '--containerd-namespace',
    containerd.namespace,
    // One node on this machine's own network: no overlay (e2e/overlay.test.ts runs it on namespace hosts).
    '--no-overlay',
  ]);
}

beforeAll(async () => {
  if (!isRoot) return;
  [etcd, registry, containerd] = await Promise.all([startEtcd(), startRegistry(), startContainerd({ label: 'e2e' })]);
  image = (await pushTestImages(registry.address)).busybox.tag;
  // Redis's certificate comes from the cluster CA, which the manager makes: the manager is told where Redis will
  // be, and Redis starts there once the manager is up (the manager reconnects meanwhile).
  const redisPort = await freePort();
  const redisPassword = randomBytes(18).toString('base64url');
  const passwordFile = path.join(redisDir, 'password');
  writeFileSync(passwordFile, `${redisPassword}\n`, { mode: 0o600 });
  manager = daemon([
    'manager',
    'start',
    '--etcd',
    etcd.url,
    '--listen',
    '127.0.0.1:0',
    '--state-dir',
    managerDir,
    '--redis',
    `127.0.0.1:${redisPort}`,
    '--redis-password-file',
    passwordFile,
    '--redis-tls',
  ]);
  await until(
    () => /listening on 127\.0\.0\.1:\d+/.test(manager.output()),
    20_000,
    () => manager.output(),
  );
  managerAddress = /listening on (127\.0\.0\.1:\d+)/.exec(manager.output())?.[1] as string;
  // As an operator does: the files from `manager redis-tls`, at the paths the redis.conf lines it prints name.
  const issued = await cli([
    'manager',
    'redis-tls',
    '--state-dir',
    managerDir,
    '--out',
    redisDir,
    '--host',
    '127.0.0.1',
  ]);
  if (issued.code !== 0) throw new Error(`manager redis-tls failed:\n${issued.output}`);
  const conf = (name: string) => new RegExp(`^${name} (.+)$`, 'm').exec(issued.stdout)?.[1] ?? '';
  redis = await startRedis({
    password: redisPassword,
    port: redisPort,
    tls: { certFile: conf('tls-cert-file'), keyFile: conf('tls-key-file'), caFile: conf('tls-ca-cert-file') },
  });
  redisCaFile = conf('tls-ca-cert-file');
  const token = (await cli(['join-token', 'worker', '-q'])).stdout.trim();
  agent = startAgentProcess(['--join', managerAddress, '--token', token]);
  await until(
    () => /node \w+ \(worker\) started/.test(agent.output()),
    20_000,
    () => agent.output(),
  );
});

/** A connection to Redis as the managers' user, with the manager's certificate. */
function managersRedis() {
  return connectRedis({
    url: redis.url,
    tls: {
      caFile: redisCaFile,
      serverName: REDIS_SERVER_NAME,
      certFile: path.join(managerDir, 'node.crt'),
      keyFile: path.join(managerDir, 'node.key'),
    },
  });
}

/** Polls outside a test (expect.poll works only inside one). */
async function until(ok: () => boolean, timeoutMs: number, explain: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${explain()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  await cli(['stack', 'rm', 'web']).catch(() => undefined);
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await containerd?.destroy();
  await Promise.all([etcd?.destroy(), redis?.destroy(), registry?.stop()]);
  for (const d of dirs) d.remove();
});

describe.skipIf(!isRoot)('a node running containers with containerd', () => {
  it('pulls from the registry, runs the service healthy, ships its logs, keeps it across an agent restart', async () => {
    const stack = path.join(cliDir, 'web.yml');
    writeFileSync(
      stack,
      [
        'services:',
        '  app:',
        `    image: ${image}`,
        '    command: ["sh", "-c", "echo started in $$HOSTNAME; touch /tmp/ok; while true; do sleep 1; done"]',
        '    init: true',
        '    healthcheck:',
        '      test: ["CMD-SHELL", "test -f /tmp/ok"]',
        '      interval: 1s',
        '      retries: 2',
        '    deploy:',
        '      replicas: 2',
        '      resources: { limits: { memory: 64M } }',
        '  site:',
        `    image: ${image}`,
        '    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]',
        '    healthcheck:',
        '      x-flotilla-probe: { http: { port: 8080, path: /index.html } }',
        '      interval: 1s',
        '',
      ].join('\n'),
    );
    const deployed = await cli(['stack', 'deploy', '-c', stack, 'web']);
    expect(deployed.code, deployed.output).toBe(0);
    await expect
      .poll(
        async () => running(await tasks('web_app')).filter((t) => t.status.health === 'TASK_HEALTH_HEALTHY').length,
        {
          timeout: 60_000,
          interval: 500,
        },
      )
      .toBe(2);
    // An HTTP probe, made by the agent inside the container's network namespace.
    await expect
      .poll(async () => running(await tasks('web_site')).map((t) => t.status.health), {
        timeout: 30_000,
        interval: 500,
      })
      .toEqual(['TASK_HEALTH_HEALTHY']);
    const before = running(await tasks('web_app'))
      .map((t) => t.id)
      .sort();
    // The containers are real: containerd lists them, labelled with their task.
    const listed = ctr('containers', 'ls', '-q');
    for (const id of before) expect(listed).toContain(id);
    await expect
      .poll(async () => (await cli(['service', 'logs', 'web_app'])).stdout, { timeout: 20_000, interval: 500 })
      .toMatch(/web_app\.[12]\.\w+@ctr-node\s+\| started in /);
    // The manager read those lines as the managers' user; the agent shipped them as its node's own user, and as
    // no other. Nothing warns of Redis.
    const nodeId = /node (\w+) \(worker\) started/.exec(agent.output())?.[1] ?? '';
    const admin = managersRedis();
    try {
      await whenReady(admin, 5_000);
      const clients = ((await admin.call('CLIENT', 'LIST')) as string).split('\n');
      const named = (name: string) => clients.filter((l) => l.includes(` name=${name} `));
      expect(named('flotilla-agent-logs').length).toBeGreaterThan(0);
      expect(named('flotilla-agent-logs').every((l) => l.includes(` user=${nodeUserName(nodeId)} `))).toBe(true);
      expect(named('flotilla-manager-logs').length).toBeGreaterThan(0);
      expect(named('flotilla-manager-logs').every((l) => l.includes(' user=default '))).toBe(true);
    } finally {
      await disconnectRedis(admin);
    }
    expect(manager.output()).not.toMatch(/Redis is reached in plaintext/);

    // Restarting the agent leaves the containers running; the new agent adopts them: same tasks, same PIDs.
    const pids = () =>
      ctr('tasks', 'ls')
        .split('\n')
        .filter((l) => before.some((id) => l.startsWith(id)))
        .map((l) => l.split(/\s+/)[1])
        .sort();
    const pidsBefore = pids();
    expect(pidsBefore).toHaveLength(2);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(pids()).toEqual(pidsBefore);
    agent = startAgentProcess();
    await expect.poll(() => agent.output(), { timeout: 20_000 }).toMatch(/node \w+ \(worker\) started/);
    await expect
      .poll(
        async () => (await tasks('web_app')).filter((t) => t.status.message === 'adopted after agent restart').length,
        {
          timeout: 20_000,
          interval: 500,
        },
      )
      .toBe(2);
    expect(
      running(await tasks('web_app'))
        .map((t) => t.id)
        .sort(),
    ).toEqual(before);
    expect(pids()).toEqual(pidsBefore);

    // A container killed behind the agent's back is seen, reported failed, and replaced.
    process.kill(Number(pidsBefore[0]), 'SIGKILL');
    await expect
      .poll(
        async () => {
          const ts = await tasks('web_app');
          return running(ts).length === 2 && ts.some((t) => t.status.state === 'TASK_STATE_FAILED');
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(true);

    // Removing the stack removes its containers.
    expect((await cli(['stack', 'rm', 'web'])).code).toBe(0);
    await expect.poll(() => ctr('containers', 'ls', '-q').trim(), { timeout: 30_000, interval: 500 }).toBe('');
  });

  it('rejects a task whose image does not exist, and says why', async () => {
    const stack = path.join(cliDir, 'missing.yml');
    writeFileSync(
      stack,
      [
        'services:',
        '  gone:',
        `    image: ${registry.address}/flotilla-test/absent:9`,
        '    deploy:',
        '      restart_policy: { condition: none }',
        '',
      ].join('\n'),
    );
    // Not pinned: the deploy goes through, and the node that cannot pull the image says why.
    expect((await cli(['stack', 'deploy', '--resolve-image', 'never', '-c', stack, 'missing'])).code).toBe(0);
    await expect
      .poll(
        async () => (await tasks('missing_gone')).find((t) => t.status.state === 'TASK_STATE_REJECTED')?.status.error,
        {
          timeout: 30_000,
          interval: 500,
        },
      )
      .toMatch(/absent:9/);
    expect((await cli(['stack', 'rm', 'missing'])).code).toBe(0);
  });

  it('rolls out an update health-gated, and rolls back one whose new containers turn unhealthy', async () => {
    const stack = path.join(cliDir, 'roll.yml');
    writeFileSync(
      stack,
      [
        'services:',
        '  app:',
        `    image: ${image}`,
        '    command: ["sh", "-c", "while true; do sleep 1; done"]',
        '    init: true',
        '    healthcheck:',
        `      test: ["CMD-SHELL", '[ -z "$$BROKEN" ]']`,
        '      interval: 500ms',
        '      retries: 2',
        '    deploy:',
        '      replicas: 2',
        '      update_config: { parallelism: 1, monitor: 1s, failure_action: rollback }',
        '      rollback_config: { parallelism: 0, monitor: 500ms }',
        '',
      ].join('\n'),
    );
    const deployed = await cli(['stack', 'deploy', '-c', stack, 'roll']);
    expect(deployed.code, deployed.output).toBe(0);
    const healthy = async () =>
      running(await tasks('roll_app')).filter((t) => t.status.health === 'TASK_HEALTH_HEALTHY').length;
    await expect.poll(healthy, { timeout: 60_000, interval: 500 }).toBe(2);
    const inspect = async () =>
      JSON.parse((await cli(['service', 'inspect', '--format', 'raw', 'roll_app'])).stdout)[0] as {
        specVersion: string;
        updateStatus?: { state: string; message: string };
      };

    const updated = await cli(['service', 'update', '--detach', '--env-add', 'RELEASE=2', 'roll_app']);
    expect(updated.code, updated.output).toBe(0);
    await expect
      .poll(async () => (await inspect()).updateStatus?.state, { timeout: 60_000, interval: 500 })
      .toBe('STATE_COMPLETED');
    expect(await healthy()).toBe(2);

    // A release whose containers turn unhealthy: the update fails them and rolls back by itself.
    expect((await cli(['service', 'update', '--detach', '--env-add', 'BROKEN=1', 'roll_app'])).code).toBe(0);
    await expect
      .poll(async () => (await inspect()).updateStatus?.state, { timeout: 90_000, interval: 500 })
      .toBe('STATE_ROLLBACK_COMPLETED');
    expect((await inspect()).updateStatus?.message).toBe('rollback completed');
    await expect.poll(healthy, { timeout: 30_000, interval: 500 }).toBe(2);
    expect((await cli(['stack', 'rm', 'roll'])).code).toBe(0);
  });
});
