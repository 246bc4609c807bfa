import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { ServiceSpec } from '@flotilla/api';
import { type Diagnostic, loadStack, toStackSpec } from '@flotilla/stack';
import { tempDir } from '@flotilla/test-servers';
import { afterAll, describe, expect, it } from 'vitest';
import { runProgram } from './capture-io.test-helpers.js';
import { serviceCommand } from './commands/service.js';
import { EXIT } from './exit-codes.js';
import { buildProgram } from './index.js';
import { addCreateFlags, createSpec, standalone } from './service-compose.js';
import type { FlagValues } from './service-flags.js';

const dir = tempDir('cli-service-create');
afterAll(() => dir.remove());

/** What `flotilla service create ARGS` would send, and warn of, through the command's own flag definitions. */
function createdWarning(args: string[]): { spec: ServiceSpec; warnings: string[] } {
  const command = new Command('create')
    .argument('<IMAGE>')
    .argument('[COMMAND...]')
    .passThroughOptions()
    .exitOverride();
  addCreateFlags(command);
  let made: { spec: ServiceSpec; warnings: string[] } | undefined;
  command.action((image, rest, opts) => {
    made = createSpec(image, rest, opts as unknown as FlagValues, dir.path);
  });
  command.parse(args, { from: 'user' });
  return made as { spec: ServiceSpec; warnings: string[] };
}

const created = (args: string[]) => createdWarning(args).spec;

/** The service `web` of a stack file, taken out of its stack as `service create` makes one, and its warnings. */
function fromStackFileWarning(yaml: string): { spec: ServiceSpec; warnings: Diagnostic[] } {
  const file = path.join(dir.path, 'stack.yml');
  writeFileSync(file, yaml);
  const loaded = loadStack({ files: [file], env: {}, envFile: false });
  const spec = toStackSpec(loaded.stack, 'demo', loaded.objectData).services.find(
    (s) => s.annotations?.name === 'demo_web',
  );
  return { spec: standalone(spec as ServiceSpec, 'web'), warnings: loaded.warnings };
}

const fromStackFile = (yaml: string) => fromStackFileWarning(yaml).spec;

const json = (s: ServiceSpec) => ServiceSpec.toJSON(s);

describe('service create: the same service a stack file with the same keys makes', () => {
  it('ports (short and long form), environment, labels, command', () => {
    const flags = created([
      '--name=web',
      '--replicas=3',
      '--publish=8080:80',
      '--publish',
      'published=5353,target=53,protocol=udp,mode=host',
      '--env=A=1',
      '--env=B=$NOT_INTERPOLATED',
      '--label=tier=front',
      '--container-label=team=web',
      'nginx:1.27',
      'nginx',
      '-g',
      'daemon off;',
    ]);
    const file = fromStackFile(`
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-g", "daemon off;"]
    ports:
      - "8080:80"
      - { published: "5353", target: 53, protocol: udp, mode: host }
    environment: ["A=1", "B=$$NOT_INTERPOLATED"]
    labels: ["team=web"]
    deploy:
      replicas: 3
      labels: ["tier=front"]
`);
    expect(json(flags)).toEqual(json(file));
    expect(flags.container?.env).toContain('B=$NOT_INTERPOLATED');
    expect(flags.annotations?.name).toBe('web');
    expect(flags.stack).toBe('');
    expect(flags.annotations?.labels).not.toHaveProperty('com.docker.stack.namespace');
  });

  it('mounts, healthcheck, restart policy', () => {
    const flags = created([
      '--name=web',
      '--mount=type=bind,source=/srv/data,target=/data,readonly',
      '--mount',
      'type=volume,source=cache,target=/cache,volume-nocopy',
      '--mount=type=tmpfs,target=/scratch,tmpfs-size=64m',
      '--health-cmd=curl -f http://localhost/',
      '--health-interval=5s',
      '--health-retries=4',
      '--health-timeout=2s',
      '--health-start-period=30s',
      '--restart-condition=on-failure',
      '--restart-delay=3s',
      '--restart-max-attempts=5',
      '--restart-window=1m',
      'nginx',
    ]);
    const file = fromStackFile(`
services:
  web:
    image: nginx
    volumes:
      - { type: bind, source: /srv/data, target: /data, read_only: true }
      - { type: volume, source: cache, target: /cache, volume: { nocopy: true } }
      - { type: tmpfs, target: /scratch, tmpfs: { size: 64m } }
    healthcheck:
      test: ["CMD-SHELL", "curl -f http://localhost/"]
      interval: 5s
      retries: 4
      timeout: 2s
      start_period: 30s
    deploy:
      restart_policy: { condition: on-failure, delay: 3s, max_attempts: 5, window: 1m }
volumes:
  cache: { external: true }
`);
    expect(json(flags)).toEqual(json(file));
    expect(flags.container?.mounts.map((m) => m.target)).toEqual(['/data', '/cache', '/scratch']);
  });

  it('update and rollback configs, limits and reservations, placement', () => {
    const flags = created([
      '--name=web',
      '--update-parallelism=2',
      '--update-delay=10s',
      '--update-order=start-first',
      '--update-failure-action=rollback',
      '--update-monitor=20s',
      '--update-max-failure-ratio=0.25',
      '--rollback-parallelism=3',
      '--rollback-delay=1s',
      '--rollback-order=stop-first',
      '--rollback-failure-action=continue',
      '--rollback-monitor=4s',
      '--rollback-max-failure-ratio=0.5',
      '--limit-cpu=1.5',
      '--limit-memory=512M',
      '--limit-pids=100',
      '--reserve-cpu=0.25',
      '--reserve-memory=64M',
      '--constraint=node.role==worker',
      '--constraint=node.labels.zone!=b',
      '--placement-pref=spread=node.labels.zone',
      'nginx',
    ]);
    const file = fromStackFile(`
services:
  web:
    image: nginx
    deploy:
      update_config:
        { parallelism: 2, delay: 10s, order: start-first, failure_action: rollback, monitor: 20s, max_failure_ratio: 0.25 }
      rollback_config:
        { parallelism: 3, delay: 1s, order: stop-first, failure_action: continue, monitor: 4s, max_failure_ratio: 0.5 }
      resources:
        limits: { cpus: "1.5", memory: 512M, pids: 100 }
        reservations: { cpus: "0.25", memory: 64M }
      placement:
        constraints: ["node.role==worker", "node.labels.zone!=b"]
        preferences: [{ spread: node.labels.zone }]
`);
    expect(json(flags)).toEqual(json(file));
    expect(flags.resources?.limits?.memoryBytes).toBe(512n * 1024n * 1024n);
  });

  it('secrets, configs and networks (short and long form), a job, and the container settings', () => {
    const flags = created([
      '--name=web',
      '--mode=replicated-job',
      '--replicas=2',
      '--secret=db_password',
      '--secret=source=tls_key,target=/run/tls/key,uid=100,gid=101,mode=0400',
      '--config=app_conf',
      '--network=front',
      '--network=name=back,alias=api',
      '--user=100:101',
      '--workdir=/app',
      '--init',
      '--stop-signal=SIGINT',
      '--stop-grace-period=30s',
      '--hostname=web-host',
      '--cap-add=NET_ADMIN',
      '--cap-drop=MKNOD',
      '--read-only',
      '--sysctl=net.core.somaxconn=1024',
      '--ulimit=nofile=1024:2048',
      '--entrypoint=/bin/run',
      '--no-healthcheck',
      'app:1',
    ]);
    const file = fromStackFile(`
services:
  web:
    image: app:1
    secrets:
      - db_password
      - { source: tls_key, target: /run/tls/key, uid: "100", gid: "101", mode: "0400" }
    configs: [app_conf]
    networks:
      front:
      back: { aliases: [api] }
    user: "100:101"
    working_dir: /app
    init: true
    stop_signal: SIGINT
    stop_grace_period: 30s
    hostname: web-host
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    sysctls: ["net.core.somaxconn=1024"]
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
    entrypoint: /bin/run
    healthcheck: { disable: true }
    deploy: { mode: replicated-job, replicas: 2 }
secrets:
  db_password: { external: true }
  tls_key: { external: true }
configs:
  app_conf: { external: true }
networks:
  front: { external: true }
  back: { external: true }
`);
    expect(json(flags)).toEqual(json(file));
    expect(flags.networks.map((n) => [n.target, n.aliases])).toEqual([
      ['front', ['web']],
      ['back', ['web', 'api']],
    ]);
  });

  it('DNS, hosts and groups (ignored, said as their stack keys are), endpoint mode, logging, start interval', () => {
    const flags = createdWarning([
      '--name=web',
      '--dns=8.8.8.8',
      '--dns=1.1.1.1',
      '--dns-option=ndots:2',
      '--dns-search=example.org',
      '--host=db:10.0.0.5',
      '--host=cache=10.0.0.6',
      '--group=audio',
      '--tty',
      '--oom-score-adj=-500',
      '--health-start-interval=2s',
      '--health-cmd=true',
      '--replicas-max-per-node=2',
      '--endpoint-mode=dnsrr',
      '--log-driver=json-file',
      '--log-opt=max-size=10m',
      'nginx',
    ]);
    const file = fromStackFileWarning(`
services:
  web:
    image: nginx
    dns: [8.8.8.8, 1.1.1.1]
    dns_opt: ["ndots:2"]
    dns_search: [example.org]
    extra_hosts: ["db:10.0.0.5", "cache=10.0.0.6"]
    group_add: [audio]
    tty: true
    oom_score_adj: -500
    healthcheck: { test: ["CMD-SHELL", "true"], start_interval: 2s }
    logging: { driver: json-file, options: { max-size: 10m } }
    deploy: { placement: { max_replicas_per_node: 2 }, endpoint_mode: dnsrr }
`);
    expect(json(flags.spec)).toEqual(json(file.spec));
    expect(flags.spec.container?.healthcheck?.startIntervalNs).toBe(2_000_000_000n);
    expect(flags.spec.placement?.maxReplicasPerNode).toBe(2n);
    expect(flags.spec.logDriver).toEqual({ name: 'json-file', options: { 'max-size': '10m' } });
    // One warning a flag, in the words the stack file's key gets, with the flag in place of the key path.
    const keyOf: Record<string, string> = {
      dns: '--dns',
      dns_opt: '--dns-option',
      dns_search: '--dns-search',
      extra_hosts: '--host',
      group_add: '--group',
      tty: '--tty',
      oom_score_adj: '--oom-score-adj',
    };
    expect(file.warnings.map((w) => w.path.split('.').pop()).sort()).toEqual(Object.keys(keyOf).sort());
    expect(flags.warnings).toEqual(
      file.warnings.map((w) => `${keyOf[w.path.split('.').pop() as string]}: ${w.message}`),
    );
    expect(createdWarning(['--name=web', '--publish=80', 'nginx']).warnings).toEqual([]);
  });

  it('an empty --entrypoint or --health-cmd is no override, as with docker', () => {
    const plain = fromStackFile('services:\n  web:\n    image: nginx\n');
    expect(json(created(['--name=web', '--entrypoint=', '--health-cmd=', 'nginx']))).toEqual(json(plain));
    expect(created(['--name=web', '--entrypoint=/bin/sh', 'nginx']).container?.entrypointSet).toBe(true);
  });

  it('--env-file is read relative to the current directory, as env_file is beside the stack file', () => {
    writeFileSync(path.join(dir.path, 'vars.env'), 'FROM_FILE=yes\nSHARED=file\n');
    const flags = created(['--name=web', '--env-file=vars.env', '--env=SHARED=flag', 'nginx']);
    const file = fromStackFile(
      'services:\n  web:\n    image: nginx\n    env_file: [vars.env]\n    environment: ["SHARED=flag"]\n',
    );
    expect(json(flags)).toEqual(json(file));
    expect(flags.container?.env).toEqual(expect.arrayContaining(['FROM_FILE=yes', 'SHARED=flag']));
  });

  it('a different flag value makes a different spec (the comparison can fail)', () => {
    const file = fromStackFile('services:\n  web:\n    image: nginx\n    ports: ["8080:80"]\n');
    expect(json(created(['--name=web', '--publish=8081:80', 'nginx']))).not.toEqual(json(file));
    expect(json(created(['--name=web', '--publish=8080:80', 'nginx']))).toEqual(json(file));
  });
});

describe('service create: bad flags', () => {
  const noManager = () => {
    throw new Error('nothing may be sent for a command line that is refused');
  };
  const run = (args: string[]) =>
    runProgram((io) => buildProgram([(i) => serviceCommand(i, noManager)], io), ['service', 'create', ...args]);

  it.each([
    [['--replicas=three'], '--replicas'],
    [['--limit-memory=lots'], '--limit-memory'],
    [['--restart-condition=sometimes'], '--restart-condition'],
    [['--update-order=random'], '--update-order'],
    [['--health-interval=soon'], '--health-interval'],
    [['--publish=http'], '--publish'],
    [['--publish=target=80,colour=red'], '--publish'],
    [['--mount=type=bind,source=/x'], '--mount'],
    [['--mount=type=bind,source=/x,target=/y,readonly=maybe'], '--mount'],
    [['--constraint=node.role~worker'], '--constraint'],
    [['--ulimit=nofile'], '--ulimit'],
    [['--mode=sometimes'], '--mode'],
    [['--no-healthcheck', '--health-retries=3'], '--no-healthcheck'],
    [['--replicas-max-per-node=-1'], '--replicas-max-per-node'],
    [['--health-start-interval=later'], '--health-start-interval'],
    [['--endpoint-mode=roundrobin'], '--endpoint-mode'],
    [['--log-driver=json-file', '--log-opt=max-size=huge'], '--log-opt'],
    [['--timeout=never'], '--timeout'],
  ])('%j is refused naming %s, with exit code 2, before anything is sent', async (flags, flag) => {
    const result = await run(['--name=web', ...flags, 'nginx']);
    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toContain(flag);
    expect(result.err).not.toContain('nothing may be sent');
    expect(result.out).toBe('');
  });

  it('a missing or invalid name is a usage error', async () => {
    expect(await run(['nginx'])).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--name') });
    expect(await run(['--name=no/slash', 'nginx'])).toMatchObject({
      code: EXIT.usage,
      err: expect.stringContaining('--name'),
    });
  });
});
