import path from 'node:path';
import { RestartPolicy_Condition, ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { toComposeObject } from './compose-output.js';
import { StackError } from './diagnostics.js';
import { type FileSource, type LoadedStack, loadStack } from './load.js';
import { toStackSpec } from './service-spec.js';

// The faults the real-world Compose corpus found in the loader: each Compose key below must come out the way
// Compose reads it, or be refused at its line.
const DIR = '/project';

/** The stack file and the files it names, in memory (paths relative to DIR). */
function load(yaml: string, extra: Record<string, string> = {}): LoadedStack {
  const files = new Map<string, string>([[path.join(DIR, 'stack.yml'), yaml]]);
  for (const [name, text] of Object.entries(extra)) files.set(path.resolve(DIR, name), text);
  const source: FileSource = {
    read: (f) => {
      const text = files.get(f);
      if (text === undefined) throw Object.assign(new Error(`${f}: no such file`), { code: 'ENOENT' });
      return text;
    },
    exists: (f) => files.has(f),
  };
  return loadStack({ files: [path.join(DIR, 'stack.yml')], env: {}, envFile: false }, source);
}

function loadError(yaml: string, extra: Record<string, string> = {}): string {
  try {
    load(yaml, extra);
  } catch (err) {
    if (err instanceof StackError) return err.format();
    throw err;
  }
  throw new Error('the stack loaded without an error');
}

const service = (lines: string[]) => ['services:', '  web:', '    image: nginx:1.27', ...lines, ''].join('\n');

describe('secret and config modes', () => {
  const stack = (mode: string) =>
    [
      'services:',
      '  web:',
      '    image: nginx:1.27',
      '    secrets:',
      `      - { source: key, mode: ${mode} }`,
      '    configs:',
      `      - { source: conf, mode: ${mode} }`,
      'secrets:',
      '  key: { external: true }',
      'configs:',
      '  conf: { external: true }',
      '',
    ].join('\n');

  it('reads a string mode as octal, as Compose does', () => {
    const { stack: s } = load(stack('"0440"'));
    const web = s.services.web!;
    expect(web.secrets[0]?.mode).toBe(0o440);
    expect(web.configs[0]?.mode).toBe(0o440);
    expect(web.secrets[0]?.mode).not.toBe(440);
    const spec = toStackSpec(s, 'st').services[0]!.container!;
    expect(spec.secrets[0]?.mode).toBe(0o440);
    expect(spec.configs[0]?.mode).toBe(0o440);
    // stack config prints it back the way it was written.
    const out = toComposeObject(s) as { services: { web: { secrets: { mode: string }[] } } };
    expect(out.services.web.secrets[0]?.mode).toBe('0440');
  });

  it('takes a number as given', () => {
    expect(load(stack('288')).stack.services.web!.secrets[0]?.mode).toBe(288);
  });

  it('refuses a string that is not octal, at its line', () => {
    const text = loadError(stack('"0999"'));
    expect(text).toMatch(/stack\.yml:5:\d+: services\.web\.secrets\[0\]\.mode: invalid file mode "0999"/);
    expect(text).toMatch(/stack\.yml:7:\d+: services\.web\.configs\[0\]\.mode: invalid file mode "0999"/);
  });
});

describe('external: {name: X}', () => {
  const yaml = [
    'services:',
    '  web:',
    '    image: nginx:1.27',
    '    networks: [edge]',
    '    volumes: ["certs:/certs"]',
    '    secrets: [tls]',
    '    configs: [site]',
    'networks:',
    '  edge: { external: { name: traefik-public } }',
    'volumes:',
    '  certs: { external: { name: shared-certs } }',
    'secrets:',
    '  tls: { external: { name: wildcard-tls-2026 } }',
    'configs:',
    '  site: { external: { name: site-conf-v3 } }',
    '',
  ].join('\n');

  it('keeps the name on all four kinds, in stack config and in the deployed names', () => {
    const { stack } = load(yaml);
    const out = toComposeObject(stack) as Record<string, Record<string, { name?: string; external?: boolean }>>;
    expect(out.networks?.edge).toMatchObject({ name: 'traefik-public', external: true });
    expect(out.volumes?.certs).toMatchObject({ name: 'shared-certs', external: true });
    expect(out.secrets?.tls).toMatchObject({ name: 'wildcard-tls-2026', external: true });
    expect(out.configs?.site).toMatchObject({ name: 'site-conf-v3', external: true });

    const spec = toStackSpec(stack, 'st');
    expect(spec.networks.map((n) => n.annotations?.name)).toEqual(['traefik-public']);
    expect(spec.volumes.map((v) => v.annotations?.name)).toEqual(['shared-certs']);
    expect(spec.secrets.map((v) => v.annotations?.name)).toEqual(['wildcard-tls-2026']);
    expect(spec.configs.map((v) => v.annotations?.name)).toEqual(['site-conf-v3']);
    const web = spec.services[0]!;
    expect(web.networks[0]?.target).toBe('traefik-public');
    expect(web.container?.mounts[0]?.source).toBe('shared-certs');
    expect(web.container?.secrets[0]?.source).toBe('wildcard-tls-2026');
    expect(web.container?.configs[0]?.source).toBe('site-conf-v3');
    // Not the stack-qualified key name.
    expect(JSON.stringify(spec, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(
      /st_(edge|certs|tls|site)/,
    );
  });

  it('refuses external.name and name that differ', () => {
    const text = loadError(service([]).concat('networks:\n  edge:\n    name: a\n    external: { name: b }\n'));
    expect(text).toMatch(/networks\.edge\.name: external\.name \(b\) and name \(a\) differ/);
  });
});

describe('x- keys on top-level objects', () => {
  const yaml = [
    'services:',
    '  web:',
    '    image: nginx:1.27',
    '    networks: [front]',
    'networks:',
    '  front:',
    '    driver: overlay',
    '    x-owner: team-web',
    'volumes:',
    '  data:',
    '    x-backup: { schedule: nightly }',
    'secrets:',
    '  key:',
    '    external: true',
    '    x-rotate: 90d',
    'configs:',
    '  conf:',
    '    external: true',
    '    x-source: vault',
    '',
  ].join('\n');

  it('are accepted and kept in stack config, as Compose keeps them', () => {
    const loaded = load(yaml);
    expect(loaded.warnings).toEqual([]);
    const out = toComposeObject(loaded.stack) as Record<string, Record<string, Record<string, unknown>>>;
    expect(out.networks?.front?.['x-owner']).toBe('team-web');
    expect(out.volumes?.data?.['x-backup']).toEqual({ schedule: 'nightly' });
    expect(out.secrets?.key?.['x-rotate']).toBe('90d');
    expect(out.configs?.conf?.['x-source']).toBe('vault');
  });

  it('a key without x- is still refused, with a suggestion', () => {
    const text = loadError(yaml.replace('x-owner', 'drivr'));
    expect(text).toMatch(/stack\.yml:8:5: networks\.front\.drivr: unknown key "drivr" \(did you mean "driver"\?\)/);
  });
});

describe('label_file', () => {
  it('reads KEY=VALUE files relative to the project directory; labels: wins', () => {
    const { stack, warnings } = load(
      service([
        '    label_file: [labels/common.labels, labels/web.labels]',
        '    labels:',
        '      com.example.tier: frontend',
      ]),
      {
        'labels/common.labels': '# shared\ncom.example.team=payments\ncom.example.tier=backend\n',
        'labels/web.labels': 'com.example.owner="web team"\ncom.example.team=web\n',
      },
    );
    expect(warnings).toEqual([]);
    expect(stack.services.web!.labels).toEqual({
      'com.example.team': 'web', // the later file wins over the earlier
      'com.example.tier': 'frontend', // labels: wins over the files
      'com.example.owner': 'web team',
    });
    const out = toComposeObject(stack) as { services: { web: Record<string, unknown> } };
    expect(out.services.web.label_file).toBeUndefined();
    expect(toStackSpec(stack, 'st').services[0]?.container?.labels).toEqual(stack.services.web!.labels);
  });

  it('takes one file written as a string', () => {
    const { stack } = load(service(['    label_file: ./web.labels']), { 'web.labels': 'a=1\n' });
    expect(stack.services.web!.labels).toEqual({ a: '1' });
  });

  it('reports a missing file at the entry that names it', () => {
    const list = loadError(service(['    label_file:', '      - present.labels', '      - missing.labels']), {
      'present.labels': 'a=1\n',
    });
    expect(list).toMatch(
      /^\/project\/stack\.yml:6:9: services\.web\.label_file\[1\]: label_file "missing\.labels": no such file/,
    );
    expect(list).not.toContain('present.labels');
    const single = loadError(service(['    label_file: gone.labels']));
    expect(single).toMatch(
      /^\/project\/stack\.yml:4:5: services\.web\.label_file: label_file "gone\.labels": no such file/,
    );
  });

  it('is no longer warned about as ignored', () => {
    const { warnings } = load(service(['    label_file: a.labels']), { 'a.labels': 'a=1\n' });
    expect(warnings.filter((w) => w.path.includes('label_file'))).toEqual([]);
  });
});

describe('restart:', () => {
  const policy = (value: string, deploy: string[] = []) => {
    const loaded = load(service([`    restart: ${value}`, ...deploy]));
    return { policy: loaded.stack.services.web!.deploy.restart_policy, warnings: loaded.warnings, loaded };
  };

  it.each([
    ['no', 'none', 0],
    ['"no"', 'none', 0],
    ['always', 'any', 0],
    ['unless-stopped', 'any', 0],
    ['on-failure', 'on-failure', 0],
    ['on-failure:3', 'on-failure', 3],
    ['"on-failure:12"', 'on-failure', 12],
  ])('restart: %s becomes condition %s, max_attempts %d', (value, condition, max) => {
    const { policy: p, warnings } = policy(value);
    expect(p.condition).toBe(condition);
    expect(p.max_attempts).toBe(max);
    expect(warnings).toEqual([]);
  });

  it('reaches the service spec', () => {
    const { loaded } = policy('on-failure:3');
    const spec = toStackSpec(loaded.stack, 'st').services[0]!;
    expect(spec.restartPolicy?.condition).toBe(RestartPolicy_Condition.CONDITION_ON_FAILURE);
    expect(spec.restartPolicy?.maxAttempts).toBe(3n);
    // The swarm default delay still applies.
    expect(spec.restartPolicy?.delayNs).toBe(5_000_000_000n);
  });

  it('deploy.restart_policy wins, and restart: is warned about at its line', () => {
    const { policy: p, warnings } = policy('on-failure:3', [
      '    deploy:',
      '      restart_policy: { condition: any, delay: 10s }',
    ]);
    expect(p.condition).toBe('any');
    expect(p.max_attempts).toBe(0);
    expect(p.delay).toBe(10_000_000_000n);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      severity: 'warning',
      path: 'services.web.restart',
      location: { file: '/project/stack.yml', line: 4, col: 5 },
    });
    expect(warnings[0]?.message).toContain('deploy.restart_policy');
  });

  it.each(['sometimes', 'on-failure:', 'on-failure:-1', 'on-failure:x', 'always:3'])(
    'refuses restart: %s at its value, with the allowed forms',
    (value) => {
      const text = loadError(service([`    restart: "${value}"`]));
      expect(text).toMatch(/^\/project\/stack\.yml:4:14: services\.web\.restart: /);
      expect(text).toContain('no, always, unless-stopped, on-failure or on-failure:N');
    },
  );

  it('suggests the nearest policy for a misspelling', () => {
    expect(loadError(service(['    restart: on-falure']))).toContain('(did you mean "on-failure"?)');
  });
});

describe('container labels', () => {
  it('reach the container spec, apart from the service (deploy) labels', () => {
    const { stack } = load(
      service([
        '    labels:',
        '      - traefik.enable=true',
        '      - com.example.empty',
        '    deploy:',
        '      labels: { com.example.service: web }',
      ]),
    );
    const spec = toStackSpec(stack, 'st').services[0]!;
    const decoded = ServiceSpec.decode(ServiceSpec.encode(spec).finish());
    expect(decoded.container?.labels).toEqual({ 'traefik.enable': 'true', 'com.example.empty': '' });
    expect(decoded.annotations?.labels).toMatchObject({ 'com.example.service': 'web' });
    expect(decoded.container?.labels).not.toHaveProperty('com.example.service');
    expect(decoded.annotations?.labels).not.toHaveProperty('traefik.enable');
  });
});

describe('top-level secret and config keys a cluster cannot honour', () => {
  it('are warned about at the key, and the object still loads', () => {
    const { warnings, stack } = load(
      [
        'services:',
        '  web: { image: nginx:1.27, secrets: [key], configs: [conf] }',
        'secrets:',
        '  key:',
        '    file: key.txt',
        '    driver: vault',
        '    driver_opts: { path: secret/web }',
        '    template_driver: golang',
        'configs:',
        '  conf:',
        '    file: conf.txt',
        '    template_driver: golang',
        '',
      ].join('\n'),
      { 'key.txt': 'k', 'conf.txt': 'c' },
    );
    expect(warnings.map((w) => `${w.location?.line}:${w.path}`).sort()).toEqual([
      '12:configs.conf.template_driver',
      '6:secrets.key.driver',
      '7:secrets.key.driver_opts',
      '8:secrets.key.template_driver',
    ]);
    expect(stack.secrets.key?.file).toBe('/project/key.txt');
  });
});
