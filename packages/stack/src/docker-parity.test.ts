import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { toComposeObject } from './compose-output.js';
import { loadStack } from './load.js';
import { parseCpus } from './values/index.js';

const FIXTURES = path.resolve(import.meta.dirname, '../test/fixtures');

interface Recording {
  fixture: string;
  recording: string;
  files: string[];
  env?: Record<string, string>;
}

// Each recording is `docker stack config` (Docker CLI 28.2.2) run on the same files with the same variables;
// test/fixtures/README.md lists the commands and record-docker-parity.sh re-records them.
const shop = { TAG: 'v0.10.0', VERSION: '2024.07.0', REPLICAS: '2', FRONTEND_REPLICAS: '3' };
const wordpress = { WORDPRESS_TAG: '6.5-php8.2-apache', DB_USER: 'wp_user', DB_NAME: 'wp_site' };
const RECORDINGS: Recording[] = [
  ...['nginx-minimal', 'traefik-webapp', 'elk', 'dockercoins', 'gitlab-ci', 'kafka', 'nextcloud', 'minio'].map((f) => ({
    fixture: f,
    recording: 'docker-stack-config.yml',
    files: ['stack.yml'],
  })),
  ...['rabbitmq-workers', 'edge-dns-turn'].map((f) => ({
    fixture: f,
    recording: 'docker-stack-config.yml',
    files: ['stack.yml'],
  })),
  {
    fixture: 'keycloak',
    recording: 'docker-stack-config.yml',
    files: ['stack.yml'],
    env: { KC_VERSION: '25.0.1', DB_PASSWORD: 'not-a-real-secret' },
  },
  { fixture: 'wordpress', recording: 'docker-stack-config.base.yml', files: ['stack.yml'], env: wordpress },
  {
    fixture: 'wordpress',
    recording: 'docker-stack-config.yml',
    files: ['stack.yml', 'stack.override.yml'],
    env: wordpress,
  },
  { fixture: 'monitoring', recording: 'docker-stack-config.base.yml', files: ['stack.yml'] },
  { fixture: 'monitoring', recording: 'docker-stack-config.yml', files: ['stack.yml', 'stack.override.yml'] },
  { fixture: 'voting-app', recording: 'docker-stack-config.base.yml', files: ['stack.yml'] },
  { fixture: 'voting-app', recording: 'docker-stack-config.yml', files: ['stack.yml', 'stack.override.yml'] },
  { fixture: 'shop-microservices', recording: 'docker-stack-config.base.yml', files: ['stack.yml'], env: shop },
  {
    fixture: 'shop-microservices',
    recording: 'docker-stack-config.override.yml',
    files: ['stack.yml', 'stack.override.yml'],
    env: shop,
  },
  {
    fixture: 'shop-microservices',
    recording: 'docker-stack-config.yml',
    files: ['stack.yml', 'stack.override.yml', 'stack.prod.yml'],
    env: shop,
  },
];

type Obj = Record<string, unknown>;
const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);

/** The fields the issue names: replicas, ports, durations, sizes, restart and update settings. */
function compared(docker: Obj, ours: Obj, withPorts: boolean): { docker: Obj; ours: Obj } {
  const left: Obj = {};
  const right: Obj = {};
  const take = (label: string, d: unknown, o: unknown, normalize: (v: unknown) => unknown = (v) => v) => {
    if (d === undefined) return;
    left[label] = normalize(d);
    right[label] = normalize(o);
  };
  take('replicas', get(docker, 'deploy', 'replicas'), get(ours, 'deploy', 'replicas'));
  take('stop_grace_period', docker.stop_grace_period, ours.stop_grace_period);
  for (const k of ['interval', 'timeout', 'start_period', 'retries', 'test']) {
    take(`healthcheck.${k}`, get(docker, 'healthcheck', k), get(ours, 'healthcheck', k));
  }
  for (const kind of ['limits', 'reservations']) {
    take(
      `${kind}.memory`,
      get(docker, 'deploy', 'resources', kind, 'memory'),
      get(ours, 'deploy', 'resources', kind, 'memory'),
    );
    take(
      `${kind}.cpus`,
      get(docker, 'deploy', 'resources', kind, 'cpus'),
      get(ours, 'deploy', 'resources', kind, 'cpus'),
      (v) => (v === undefined ? v : parseCpus(v as string)),
    );
  }
  for (const k of ['condition', 'delay', 'max_attempts', 'window']) {
    take(`restart_policy.${k}`, get(docker, 'deploy', 'restart_policy', k), get(ours, 'deploy', 'restart_policy', k));
  }
  for (const block of ['update_config', 'rollback_config']) {
    for (const k of ['parallelism', 'delay', 'failure_action', 'monitor', 'max_failure_ratio', 'order']) {
      take(`${block}.${k}`, get(docker, 'deploy', block, k), get(ours, 'deploy', block, k));
    }
  }
  take('mode', get(docker, 'deploy', 'mode'), get(ours, 'deploy', 'mode'));
  take('endpoint_mode', get(docker, 'deploy', 'endpoint_mode'), get(ours, 'deploy', 'endpoint_mode'));
  if (withPorts) {
    const ports = (list: unknown) =>
      ((list as Obj[] | undefined) ?? [])
        .map((p) => `${p.mode ?? 'ingress'}:${p.published ?? ''}:${p.target}/${p.protocol ?? 'tcp'}`)
        .sort();
    take('ports', docker.ports, ours.ports, ports);
  }
  return { docker: left, ours: right };
}

let compareCount = 0;

describe('parity with docker stack config', () => {
  afterAll(() => {
    // Guards against a comparison that silently compares nothing.
    expect(compareCount).toBeGreaterThan(800);
  });

  it.each(RECORDINGS)('$fixture: $recording', ({ fixture, recording, files, env }) => {
    const dir = path.join(FIXTURES, fixture);
    const docker = parse(readFileSync(path.join(dir, recording), 'utf8')) as { services: Record<string, Obj> };
    const loaded = loadStack({ files: files.map((f) => path.join(dir, f)), env: env ?? {}, envFile: false });
    const ours = toComposeObject(loaded.stack) as { services: Record<string, Obj> };
    expect(Object.keys(ours.services).sort()).toEqual(Object.keys(docker.services).sort());
    // Docker merges ports of several files by published port (dropping entries); Compose appends them.
    const withPorts = files.length === 1;
    for (const [name, service] of Object.entries(docker.services)) {
      const { docker: d, ours: o } = compared(service, ours.services[name] as Obj, withPorts);
      expect(o, `${fixture} ${name}`).toEqual(d);
      compareCount += Object.keys(d).length;
    }
  });
});
