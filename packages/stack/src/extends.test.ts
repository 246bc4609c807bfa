import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIMITS } from './limits.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { loadIn, problemsIn, project } from './temp-project.test-helpers.js';

describe('extends in the same file', () => {
  const dir = () =>
    project({
      'stack.yml': `services:
  base:
    image: app:1
    command: [serve, --base]
    environment:
      TZ: utc
      PORT: "80"
    ports: ["8080:80"]
    volumes: ["data:/var/lib/app", "logs:/var/log"]
    healthcheck:
      test: [CMD, base-check]
      interval: 10s
    cap_add: [NET_ADMIN]
  web:
    extends:
      service: base
    command: [serve, --web]
    environment: [PORT=8081]
    ports: ["9090:90"]
    volumes: ["other:/var/lib/app"]
    healthcheck:
      test: [CMD, web-check]
    cap_add: [NET_ADMIN, SYS_TIME]
  worker:
    extends: base
    image: app:2
volumes:
  data:
  logs:
  other:
`,
    });

  it('merges the service over its base by the Compose rules', () => {
    const { stack } = loadIn(dir(), ['stack.yml']);
    const web = stack.services.web;
    expect(web?.image).toBe('app:1');
    // command and healthcheck.test replaced, not appended
    expect(web?.command).toEqual(['serve', '--web']);
    expect(web?.healthcheck?.test).toEqual(['CMD', 'web-check']);
    expect(web?.healthcheck?.interval).toBe(10_000_000_000n);
    // mappings merged key by key (a list in one, a map in the other), the service's own value winning
    expect(web?.environment).toEqual({ PORT: '8081', TZ: 'utc' });
    // sequences appended, without duplicates
    expect(web?.ports.map((p) => p.published)).toEqual([8080, 9090]);
    expect(web?.cap_add).toEqual(['NET_ADMIN', 'SYS_TIME']);
    // volumes merged by their target
    expect(web?.volumes.map((v) => `${v.source}:${v.target}`)).toEqual(['other:/var/lib/app', 'logs:/var/log']);
  });

  it('takes the short form, and keeps the base as a service of its own', () => {
    const { stack } = loadIn(dir(), ['stack.yml']);
    expect(stack.services.worker?.image).toBe('app:2');
    expect(stack.services.worker?.command).toEqual(['serve', '--base']);
    expect(stack.services.base?.command).toEqual(['serve', '--base']);
    expect(stack.services.base?.environment).toEqual({ PORT: '80', TZ: 'utc' });
  });

  it('follows a chain of extends, and never warns of extends', () => {
    const loaded = loadIn(
      project({
        'stack.yml': `services:
  a: {image: app:1, user: root}
  b: {extends: a, working_dir: /srv}
  c: {extends: {service: b}, hostname: c}
`,
      }),
      ['stack.yml'],
    );
    expect(loaded.stack.services.c).toMatchObject({ user: 'root', working_dir: '/srv', hostname: 'c' });
    expect(loaded.warnings).toEqual([]);
  });

  it('reports a cycle with its chain at the extends key', () => {
    const dir = project({
      'stack.yml': `services:
  a:
    image: app:1
    extends: b
  b:
    extends:
      service: a
`,
    });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:6:5: services.b.extends: extends forms a cycle: a → b → a; remove one of these extends',
    );
  });

  it('reports a missing service at the extends key, and not the image it would have given', () => {
    const dir = project({ 'stack.yml': 'services:\n  base: {image: app:1}\n  web:\n    extends: bsae\n' });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:4:5: services.web.extends: extends: no service "bsae" in this file (did you mean "base"?)',
    );
  });

  it('refuses an extends that is neither a name nor {service, file}', () => {
    expect(loadErrors('services:\n  web:\n    image: a\n    extends: {file: x.yml}\n')).toMatch(
      /^\/stack\.yml:4:14: services\.web\.extends: extends needs service/,
    );
    expect(loadErrors('services:\n  web:\n    image: a\n    extends: {service: a, files: x}\n')).toMatch(
      /unknown key "files"/,
    );
  });
});

describe('extends from another file', () => {
  const files = {
    'app/stack.yml': `services:
  web:
    extends:
      file: ../common/services.yml
      service: webapp
    environment:
      ROLE: web
`,
    'common/services.yml': `services:
  webapp:
    extends:
      file: base/base.yml
      service: base
    env_file: ./webapp.env
    volumes:
      - ./static:/srv/static:ro
      - type: bind
        source: ../common/config
        target: /etc/app
    security_opt: [seccomp=profiles/seccomp.json]
  unused:
    image: \${UNSET_IN_UNUSED:-other}
`,
    'common/webapp.env': 'FROM_ENV_FILE=1\n',
    'common/profiles/seccomp.json': '{"defaultAction": "SCMP_ACT_ERRNO"}',
    'common/base/base.yml': `services:
  base:
    image: registry.example.com/app:\${TAG:-1}
    env_file: base.env
`,
    'common/base/base.env': 'FROM_BASE=1\n',
  };

  it('resolves relative paths from the extended file, through a chain of files', () => {
    const dir = project(files);
    const { stack } = loadIn(dir, ['app/stack.yml'], { env: { TAG: '7' } });
    const web = stack.services.web;
    expect(web?.image).toBe('registry.example.com/app:7');
    expect(web?.environment).toEqual({ FROM_BASE: '1', FROM_ENV_FILE: '1', ROLE: 'web' });
    expect(web?.volumes.map((v) => v.source)).toEqual([
      path.join(dir, 'common/static'),
      path.join(dir, 'common/config'),
    ]);
    expect(web?.seccomp).toContain('SCMP_ACT_ERRNO');
    // Only the service named is taken from the other file.
    expect(Object.keys(stack.services)).toEqual(['web']);
  });

  it('reports a problem of the extended service at its own file and line', () => {
    const dir = project({
      ...files,
      'common/base/base.yml': 'services:\n  base:\n    image: app:1\n    ports: ["nope"]\n',
    });
    expect(problemsIn(dir, ['app/stack.yml'])).toMatch(/^common\/base\/base\.yml:4:13: services\.web\.ports\[0\]: /);
  });

  it('reports a missing env_file of the extended service at the line that names it', () => {
    const without = Object.fromEntries(Object.entries(files).filter(([f]) => f !== 'common/webapp.env'));
    const text = problemsIn(project(without), ['app/stack.yml']);
    expect(text).toMatch(
      /^common\/services\.yml:6:15: services\.web\.env_file\[1\]: env_file file "common\/webapp\.env" does not exist$/,
    );
  });

  it('reports a missing file at the extends key', () => {
    const dir = project({ 'stack.yml': 'services:\n  web:\n    extends: {file: nothere.yml, service: x}\n' });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:3:5: services.web.extends: extends: cannot read nothere.yml: no such file',
    );
  });

  it('reports a service missing from the other file, and a cycle across files, at the extends key', () => {
    const dir = project({
      'stack.yml':
        'services:\n  web:\n    extends: {file: other.yml, service: web}\n  api:\n    extends: {file: other.yml, service: nope}\n',
      'other.yml': 'services:\n  web:\n    extends: {file: stack.yml, service: web}\n',
    });
    const text = problemsIn(dir, ['stack.yml']);
    expect(text).toContain('stack.yml:5:5: services.api.extends: extends: no service "nope" in other.yml');
    expect(text).toMatch(
      /other\.yml:3:5: services\.web\.extends: extends forms a cycle: web \(.*stack\.yml\) → web → web \(.*stack\.yml\)/,
    );
    expect(text).not.toContain('image');
  });

  it('reports a syntax error of the other file at its line, and the extends that needed it', () => {
    const dir = project({
      'stack.yml': 'services:\n  web:\n    extends: {file: broken.yml, service: base}\n',
      'broken.yml': 'services:\n  base:\n    image: [a\n',
    });
    const lines = problemsIn(dir, ['stack.yml']).split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^broken\.yml:\d+:\d+: YAML syntax error: /);
    expect(lines[1]).toBe(
      'stack.yml:3:5: services.web.extends: extends: broken.yml has errors, reported at their lines',
    );
  });

  it('reads a bounded number of files', () => {
    const count = LIMITS.maxFiles + 5;
    const chain: Record<string, string> = {
      'stack.yml': 'services:\n  web:\n    extends: {file: f0.yml, service: s}\n',
    };
    for (let i = 0; i < count; i++) {
      chain[`f${i}.yml`] = `services:\n  s:\n    image: app:1\n    extends: {file: f${i + 1}.yml, service: s}\n`;
    }
    chain[`f${count}.yml`] = 'services:\n  s:\n    image: app:1\n';
    const text = problemsIn(project(chain), ['stack.yml']);
    expect(text).toContain(`a stack reads at most ${LIMITS.maxFiles} files through include and extends`);
    expect(text.split('\n')).toHaveLength(1);
  });

  it('is a clear error where only the stack file can be read (the control API)', () => {
    const text = 'services:\n  web:\n    extends: {file: common.yml, service: web}\n';
    expect(() => loadStackText(text, { file: '/srv/stack.yml' })).toThrow();
    expect(loadErrors(text)).toBe(
      '/stack.yml:3:5: services.web.extends: extends: cannot read /common.yml: only the stack file itself can be read here (the control API receives one file)',
    );
    // The same file's services are there to extend.
    expect(loadErrors('services:\n  a: {image: app:1}\n  b: {extends: a}\n')).toBe('');
  });
});
