import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StackError } from './diagnostics.js';
import { type FileSource, type LoadedStack, loadStack } from './load.js';
import { toStackSpec } from './service-spec.js';

// No Compose key is dropped in silence: every key the Compose Specification defines for a service, a deploy
// section and the top-level networks, volumes, configs and secrets is accepted, and either changes what is
// deployed (the StackSpec the managers get) or gets a warning at its line that says what happens instead.
// The key lists are written from the specification (services, deploy, networks, volumes, configs, secrets
// pages of compose-spec), not taken from this code, so a key the schema forgets shows up here.

const DIR = '/project';

/** A service key with a value that differs from what is deployed without it. */
const SERVICE_KEYS: Record<string, string> = {
  annotations: '{ com.example.a: b }',
  attach: 'false',
  blkio_config: '{ weight: 300 }',
  build: '.',
  cap_add: '[NET_ADMIN]',
  cap_drop: '[ALL]',
  cgroup: 'host',
  cgroup_parent: 'm-executor',
  command: 'run --fast',
  configs: '[conf]',
  container_name: 'web-1',
  cpu_count: '2',
  cpu_percent: '50',
  cpu_period: '100000',
  cpu_quota: '50000',
  cpu_rt_period: '1000000',
  cpu_rt_runtime: '950000',
  cpu_shares: '512',
  cpus: '1.5',
  cpuset: '0-1',
  credential_spec: '{ file: spec.json }',
  depends_on: '[db]',
  deploy: '{ replicas: 3 }',
  develop: '{ watch: [{ path: ./src, action: sync, target: /src }] }',
  device_cgroup_rules: "['c 1:3 mr']",
  devices: "['/dev/fuse:/dev/fuse']",
  dns: '198.18.0.53',
  dns_opt: '[use-vc]',
  dns_search: 'example.com',
  domainname: 'example.com',
  entrypoint: '/bin/start',
  env_file: 'web.env',
  environment: '{ A: b }',
  expose: "['3000']",
  extends: '{ service: db }',
  external_links: '[redis_1]',
  extra_hosts: "['host.example:198.18.0.1']",
  gpus: 'all',
  group_add: '[mail]',
  healthcheck: '{ test: [CMD, "true"], interval: 7s }',
  hostname: 'web-host',
  image: 'nginx:1.26',
  init: 'true',
  ipc: 'host',
  isolation: 'default',
  label_file: 'web.labels',
  labels: '{ com.example.a: b }',
  links: '[db]',
  logging: '{ driver: json-file, options: { max-size: 10m } }',
  mac_address: '02:42:ac:11:00:02',
  mem_limit: '1g',
  mem_reservation: '512m',
  mem_swappiness: '0',
  memswap_limit: '2g',
  models: '[llm]',
  network_mode: 'host',
  networks: '[net]',
  oom_kill_disable: 'true',
  oom_score_adj: '500',
  pid: 'host',
  pids_limit: '100',
  platform: 'linux/arm64',
  ports: "['8080:80']",
  post_start: '[{ command: [touch, /ready] }]',
  pre_start: '[{ command: [migrate] }]',
  pre_stop: '[{ command: [drain] }]',
  privileged: 'true',
  profiles: '[debug]',
  provider: '{ type: model }',
  pull_policy: 'always',
  pull_refresh_after: '24h',
  read_only: 'true',
  restart: 'on-failure:3',
  runtime: 'runsc',
  scale: '3',
  secrets: '[sec]',
  security_opt: "['no-new-privileges:true']",
  shm_size: '256m',
  stdin_open: 'true',
  stop_grace_period: '1m',
  stop_signal: 'SIGINT',
  storage_opt: '{ size: 20G }',
  sysctls: '{ net.core.somaxconn: 1024 }',
  tmpfs: '/run:size=64m',
  tty: 'true',
  ulimits: '{ nofile: 65536 }',
  use_api_socket: 'true',
  user: '1000:1000',
  userns_mode: 'host',
  uts: 'host',
  volumes: "['data:/data']",
  volumes_from: '[db]',
  working_dir: '/srv/app',
};

/** Keys of deploy:, as the Compose Deploy Specification lists them. */
const DEPLOY_KEYS: Record<string, string> = {
  endpoint_mode: 'dnsrr',
  labels: '{ com.example.a: b }',
  mode: 'global',
  placement: "{ constraints: ['node.role == worker'] }",
  replicas: '4',
  resources: '{ limits: { memory: 1g } }',
  restart_policy: '{ condition: on-failure }',
  rollback_config: '{ parallelism: 2 }',
  update_config: '{ parallelism: 2 }',
};

/** Top-level objects: their keys and a value, on an object the service uses. */
const OBJECT_KEYS: Record<'networks' | 'volumes' | 'configs' | 'secrets', Record<string, string>> = {
  networks: {
    attachable: 'true',
    driver: 'bridge',
    driver_opts: '{ encrypted: "true" }',
    enable_ipv4: 'false',
    enable_ipv6: 'true',
    external: 'true',
    internal: 'true',
    ipam: '{ config: [{ subnet: 10.9.0.0/24 }] }',
    labels: '{ com.example.a: b }',
    name: 'shared-net',
  },
  volumes: {
    driver: 'other',
    driver_opts: '{ type: tmpfs, device: tmpfs }',
    external: 'true',
    labels: '{ com.example.a: b }',
    name: 'shared-data',
  },
  configs: {
    // file is the base's source; each of the others replaces it (a config has exactly one source).
    content: 'hello',
    environment: 'CONF_VALUE',
    external: 'true',
    file: 'other.txt',
    labels: '{ com.example.a: b }',
    name: 'shared-conf',
    template_driver: 'golang',
  },
  secrets: {
    driver: 'vault',
    driver_opts: '{ path: a/b }',
    environment: 'SECRET_VALUE',
    external: 'true',
    file: 'other.txt',
    labels: '{ com.example.a: b }',
    name: 'shared-secret',
    template_driver: 'golang',
  },
};

/** Keys of ipam: and of its config entries. */
const IPAM_KEYS: Record<string, string> = {
  driver: 'other',
  options: '{ foo: bar }',
  config: '[{ subnet: 10.9.0.0/24 }]',
  'config.subnet': '10.9.0.0/24',
  'config.ip_range': '10.9.0.128/25',
  'config.gateway': '10.9.0.1',
  'config.aux_addresses': '{ router: 10.9.0.2 }',
};

/**
 * Keys inside a service's values: the value without the key, and with it. The path is under services.web.
 */
const SERVICE_SUB_KEYS: [string, string, string][] = [
  ['ports[0].target', "ports: ['8080:80']", 'ports: [{ target: 81, published: 8080 }]'],
  ['ports[0].published', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, published: 8080 }]'],
  ['ports[0].host_ip', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, host_ip: 127.0.0.1 }]'],
  ['ports[0].protocol', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, protocol: udp }]'],
  ['ports[0].mode', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, mode: host }]'],
  ['ports[0].name', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, name: http }]'],
  ['ports[0].app_protocol', 'ports: [{ target: 80 }]', 'ports: [{ target: 80, app_protocol: http }]'],
  ['depends_on.db.condition', 'depends_on: { db: {} }', 'depends_on: { db: { condition: service_healthy } }'],
  ['depends_on.db.required', 'depends_on: { db: {} }', 'depends_on: { db: { required: false } }'],
  ['depends_on.db.restart', 'depends_on: { db: {} }', 'depends_on: { db: { restart: true } }'],
  ['networks.net.aliases', 'networks: { net: {} }', 'networks: { net: { aliases: [www] } }'],
  ['networks.net.ipv4_address', 'networks: { net: {} }', 'networks: { net: { ipv4_address: 10.0.0.9 } }'],
  ['networks.net.ipv6_address', 'networks: { net: {} }', 'networks: { net: { ipv6_address: "fd00::9" } }'],
  ['networks.net.link_local_ips', 'networks: { net: {} }', 'networks: { net: { link_local_ips: [169.254.8.8] } }'],
  ['networks.net.mac_address', 'networks: { net: {} }', 'networks: { net: { mac_address: 02:42:ac:11:00:09 } }'],
  ['networks.net.priority', 'networks: { net: {} }', 'networks: { net: { priority: 100 } }'],
  ['networks.net.gw_priority', 'networks: { net: {} }', 'networks: { net: { gw_priority: 100 } }'],
  ['networks.net.driver_opts', 'networks: { net: {} }', 'networks: { net: { driver_opts: { a: b } } }'],
  [
    'volumes[0].read_only',
    'volumes: [{ type: bind, source: /srv, target: /srv }]',
    'volumes: [{ type: bind, source: /srv, target: /srv, read_only: true }]',
  ],
  [
    'volumes[0].consistency',
    'volumes: [{ type: bind, source: /srv, target: /srv }]',
    'volumes: [{ type: bind, source: /srv, target: /srv, consistency: cached }]',
  ],
  [
    'volumes[0].bind.propagation',
    'volumes: [{ type: bind, source: /srv, target: /srv }]',
    'volumes: [{ type: bind, source: /srv, target: /srv, bind: { propagation: rshared } }]',
  ],
  [
    'volumes[0].bind.create_host_path',
    'volumes: [{ type: bind, source: /srv, target: /srv }]',
    'volumes: [{ type: bind, source: /srv, target: /srv, bind: { create_host_path: true } }]',
  ],
  [
    'volumes[0].bind.selinux',
    'volumes: [{ type: bind, source: /srv, target: /srv }]',
    'volumes: [{ type: bind, source: /srv, target: /srv, bind: { selinux: z } }]',
  ],
  [
    'volumes[0].volume.nocopy',
    'volumes: [{ type: volume, source: data, target: /d }]',
    'volumes: [{ type: volume, source: data, target: /d, volume: { nocopy: true } }]',
  ],
  [
    'volumes[0].volume.subpath',
    'volumes: [{ type: volume, source: data, target: /d }]',
    'volumes: [{ type: volume, source: data, target: /d, volume: { subpath: a } }]',
  ],
  [
    'volumes[0].tmpfs.size',
    'volumes: [{ type: tmpfs, target: /t }]',
    'volumes: [{ type: tmpfs, target: /t, tmpfs: { size: 1m } }]',
  ],
  [
    'volumes[0].tmpfs.mode',
    'volumes: [{ type: tmpfs, target: /t }]',
    'volumes: [{ type: tmpfs, target: /t, tmpfs: { mode: 0o700 } }]',
  ],
  ['secrets[0].target', 'secrets: [{ source: sec }]', 'secrets: [{ source: sec, target: s }]'],
  ['secrets[0].uid', 'secrets: [{ source: sec }]', 'secrets: [{ source: sec, uid: "70" }]'],
  ['secrets[0].gid', 'secrets: [{ source: sec }]', 'secrets: [{ source: sec, gid: "70" }]'],
  ['secrets[0].mode', 'secrets: [{ source: sec }]', 'secrets: [{ source: sec, mode: "0400" }]'],
  ['logging.driver', 'logging: {}', 'logging: { driver: local }'],
  ['logging.options', 'logging: {}', 'logging: { options: { max-size: 1m } }'],
];

/**
 * Keys accepted that neither change the deployment nor warn: none. A key added here must say why it is right to
 * drop it in silence.
 */
const SILENT_ELSEWHERE = new Set<string>([]);

const SOURCES: Record<string, string> = {
  'web.env': 'FROM_FILE=1\n',
  'web.labels': 'com.example.from-file=1\n',
  'conf.txt': 'conf\n',
  'sec.txt': 'sec\n',
  'other.txt': 'other\n',
};

const ENV = { CONF_VALUE: 'from-env', SECRET_VALUE: 'from-env' };

/** The object of each kind the service uses, and what it is declared with in the base stack. */
const OBJECT_NAMES = { network: 'net', volume: 'data', config: 'conf', secret: 'sec' } as const;
const OBJECT_BASE = {
  network: 'driver: overlay',
  volume: 'driver: local',
  config: 'file: conf.txt',
  secret: 'file: sec.txt',
};

interface Parts {
  service?: string[];
  deploy?: string[];
  network?: string[];
  volume?: string[];
  config?: string[];
  secret?: string[];
}

/** A stack that uses one of each object, with lines added where a key is tried. */
function stackText(p: Parts = {}): string {
  const object = (lines: string[] | undefined, base: string[]) => (lines ?? base).map((l) => `    ${l}`);
  return [
    'services:',
    '  web:',
    // The objects below are declared whether a service uses them or not: each is deployed either way.
    ...(p.service?.some((l) => l.startsWith('image:')) ? [] : ['    image: nginx:1.27']),
    ...(p.service ?? []).map((l) => `    ${l}`),
    ...(p.deploy ? ['    deploy:', ...p.deploy.map((l) => `      ${l}`)] : []),
    '  db:',
    '    image: postgres:16',
    // Something for `extends: { service: db }` to carry over (the image is the service's own).
    '    environment: { PGDATA: /data }',
    'networks:',
    '  net:',
    ...object(p.network, [OBJECT_BASE.network]),
    'volumes:',
    '  data:',
    ...object(p.volume, [OBJECT_BASE.volume]),
    'configs:',
    '  conf:',
    ...object(p.config, [OBJECT_BASE.config]),
    'secrets:',
    '  sec:',
    ...object(p.secret, [OBJECT_BASE.secret]),
    '',
  ].join('\n');
}

function load(text: string): LoadedStack {
  const files = new Map<string, string>([[path.join(DIR, 'stack.yml'), text]]);
  for (const [name, content] of Object.entries(SOURCES)) files.set(path.join(DIR, name), content);
  const source: FileSource = {
    read: (f) => files.get(f) ?? '',
    exists: (f) => files.has(f),
  };
  return loadStack({ files: [path.join(DIR, 'stack.yml')], env: ENV, envFile: false }, source);
}

/** What the managers would get: the StackSpec with the objects' content. */
function deployed(loaded: LoadedStack): string {
  const spec = toStackSpec(loaded.stack, 'st', loaded.objectData);
  return JSON.stringify(spec, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? v.toString() : v));
}

/** Whether a key at `keyPath` is honoured (changes the deployment), warned about, or silently dropped. */
function fate(text: string, keyPath: string): 'honoured' | 'warned' | 'silent' {
  let loaded: LoadedStack;
  try {
    loaded = load(text);
  } catch (err) {
    if (err instanceof StackError) throw new Error(`${keyPath} is refused:\n${err.format()}`);
    throw err;
  }
  if (loaded.warnings.some((w) => w.path === keyPath || w.path.startsWith(`${keyPath}.`))) return 'warned';
  return deployed(loaded) === deployed(load(stackText())) ? 'silent' : 'honoured';
}

describe('every Compose key is honoured or warned about', () => {
  it('the base stack loads without warnings', () => {
    expect(load(stackText()).warnings).toEqual([]);
  });

  it.each(Object.entries(SERVICE_KEYS))('services.*.%s', (key, value) => {
    expect(fate(stackText({ service: [`${key}: ${value}`] }), `services.web.${key}`)).not.toBe('silent');
  });

  it.each(Object.entries(DEPLOY_KEYS))('services.*.deploy.%s', (key, value) => {
    expect(fate(stackText({ deploy: [`${key}: ${value}`] }), `services.web.deploy.${key}`)).not.toBe('silent');
  });

  const objectCases = Object.entries(OBJECT_KEYS).flatMap(([kind, keys]) =>
    Object.entries(keys).map(([key, value]) => [kind, key, value] as const),
  );
  it.each(objectCases)('%s.*.%s', (kind, key, value) => {
    const singular = kind.slice(0, -1) as 'network' | 'volume' | 'config' | 'secret';
    // A config or secret takes exactly one source: a source key replaces the base's file; so does driver its driver.
    const sources = ['file', 'content', 'environment', 'external'];
    const replaces =
      OBJECT_BASE[singular].startsWith(`${key}:`) ||
      (sources.includes(key) && (kind === 'configs' || kind === 'secrets'));
    const lines = replaces ? [`${key}: ${value}`] : [OBJECT_BASE[singular], `${key}: ${value}`];
    const result = fate(stackText({ [singular]: lines }), `${kind}.${OBJECT_NAMES[singular]}.${key}`);
    if (SILENT_ELSEWHERE.has(`${kind}.${key}`)) expect(result).toBe('silent');
    else expect(result).not.toBe('silent');
  });

  it.each(Object.entries(IPAM_KEYS))('networks.*.ipam.%s', (key, value) => {
    const [outer, inner] = key.split('.');
    // A key of a config entry is tried on an entry of its own, and compared with an empty entry.
    const base = inner === undefined ? stackText() : stackText({ network: ['ipam: { config: [{}] }'] });
    const tried = inner === undefined ? `ipam: { ${outer}: ${value} }` : `ipam: { config: [{ ${inner}: ${value} }] }`;
    const text = stackText({ network: [tried] });
    const loaded = load(text);
    const warned = loaded.warnings.some((w) => w.path.startsWith('networks.net.ipam'));
    const silent = !warned && deployed(loaded) === deployed(load(base));
    expect(silent).toBe(SILENT_ELSEWHERE.has(`ipam.${key}`));
  });

  it.each(SERVICE_SUB_KEYS)('services.*.%s', (key, without, withKey) => {
    const loaded = load(stackText({ service: [withKey] }));
    const warned = loaded.warnings.some((w) => w.path === `services.web.${key}`);
    const silent = !warned && deployed(loaded) === deployed(load(stackText({ service: [without] })));
    expect(silent).toBe(SILENT_ELSEWHERE.has(key));
  });

  it('top-level keys: version and models are warned about, name names the stack, x- keys are kept', () => {
    const { warnings, stack } = load(
      `version: "3.9"\nname: shop\nmodels: { llm: { model: ai/smollm2 } }\nx-a: 1\n${stackText()}`,
    );
    expect(warnings.map((w) => w.path).sort()).toEqual(['models', 'version']);
    expect(stack.name).toBe('shop');
    expect(stack.extensions).toEqual({ 'x-a': 1 });
  });

  it('an unknown service key is still refused: the walk above cannot pass by accepting anything', () => {
    expect.assertions(2);
    try {
      load(stackText({ service: ['restart_policy: always'] }));
    } catch (err) {
      expect(err).toBeInstanceOf(StackError);
      expect((err as StackError).format()).toMatch(/services\.web\.restart_policy: unknown key "restart_policy"/);
    }
  });
});
