import { describe, expect, it } from 'vitest';
import { loadIn, problemsIn, project } from './temp-project.test-helpers.js';

const STACK = `services:
  web:
    image: app:1
  debugger:
    image: tools:1
    profiles: [debug]
  seed:
    image: seed:1
    profiles: [test, ci]
  e2e:
    image: e2e:1
    profiles: [test]
    depends_on: [seed]
`;

const services = (options: Parameters<typeof loadIn>[2]) =>
  Object.keys(loadIn(project({ 'stack.yml': STACK }), ['stack.yml'], options).stack.services).sort();

describe('profiles', () => {
  it('keeps only services with no profile when none is enabled', () => {
    expect(services({})).toEqual(['web']);
  });

  it('adds the services of the profiles enabled with --profile', () => {
    expect(services({ profiles: ['debug'] })).toEqual(['debugger', 'web']);
    expect(services({ profiles: ['test'] })).toEqual(['e2e', 'seed', 'web']);
    expect(services({ profiles: ['ci', 'debug'] })).toEqual(['debugger', 'seed', 'web']);
    expect(services({ profiles: ['*'] })).toEqual(['debugger', 'e2e', 'seed', 'web']);
  });

  it('reads COMPOSE_PROFILES when no --profile is given, and --profile over it', () => {
    expect(services({ env: { COMPOSE_PROFILES: 'debug, test' } })).toEqual(['debugger', 'e2e', 'seed', 'web']);
    expect(services({ env: { COMPOSE_PROFILES: 'debug' }, profiles: ['ci'] })).toEqual(['seed', 'web']);
  });

  it('reads COMPOSE_PROFILES from the .env file too', () => {
    const dir = project({ 'stack.yml': STACK, '.env': 'COMPOSE_PROFILES=debug\n' });
    expect(Object.keys(loadIn(dir, ['stack.yml']).stack.services).sort()).toEqual(['debugger', 'web']);
  });

  it('never warns that profiles are ignored', () => {
    const loaded = loadIn(project({ 'stack.yml': STACK }), ['stack.yml'], { profiles: ['test'] });
    expect(loaded.warnings).toEqual([]);
  });

  it('reports a dependency on a service whose profile is not enabled, saying which to enable', () => {
    const dir = project({
      'stack.yml': STACK.replace('  e2e:\n    image: e2e:1\n    profiles: [test]\n', '  e2e:\n    image: e2e:1\n'),
    });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:12:18: services.e2e.depends_on.seed: service "seed" is not deployed: it is only in profiles ' +
        '"test", "ci", none of which is enabled; enable it with --profile test (or COMPOSE_PROFILES=test), or set ' +
        'required: false on this dependency',
    );
    expect(problemsIn(dir, ['stack.yml'], { profiles: ['ci'] })).toBe('');
  });

  it('reports network_mode: service:X and volumes_from naming a service whose profile is not enabled', () => {
    const dir = project({
      'stack.yml': `services:
  app:
    image: app:1
    profiles: [app]
  shipper:
    image: shipper:1
    network_mode: service:app
    volumes_from: [app, "container:other"]
`,
    });
    const lines = problemsIn(dir, ['stack.yml']).split('\n');
    expect(lines.filter((l) => l.includes('service "app" is not deployed'))).toEqual([
      expect.stringMatching(/^stack\.yml:7:19: services\.shipper\.network_mode: .*--profile app/),
      expect.stringMatching(/^stack\.yml:8:20: services\.shipper\.volumes_from\[0\]: .*--profile app/),
    ]);
    expect(lines.join('\n')).not.toContain('"other"');
    expect(problemsIn(dir, ['stack.yml'], { profiles: ['app'] })).not.toContain('is not deployed');
  });

  it('accepts an optional dependency on an inactive service', () => {
    const dir = project({
      'stack.yml':
        'services:\n  web:\n    image: a\n    depends_on:\n      cache: {condition: service_started, required: false}\n  cache:\n    image: b\n    profiles: [cache]\n',
    });
    expect(Object.keys(loadIn(dir, ['stack.yml']).stack.services)).toEqual(['web']);
  });

  it('still validates the services of profiles that are not enabled', () => {
    const dir = project({
      'stack.yml': 'services:\n  web: {image: a}\n  dbg:\n    image: b\n    profiles: [debug]\n    ports: ["x"]\n',
    });
    expect(problemsIn(dir, ['stack.yml'])).toMatch(/^stack\.yml:6:13: services\.dbg\.ports\[0\]/);
  });

  it('reports a stack where no service is active', () => {
    const dir = project({ 'stack.yml': 'services:\n  a: {image: a, profiles: [x]}\n  b: {image: b, profiles: [y]}\n' });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:1:1: services: no service is active: every service is in a profile that is not enabled (x, y); enable one with --profile NAME',
    );
  });

  it('refuses profiles that are not a list of names', () => {
    const dir = project({ 'stack.yml': 'services:\n  web: {image: a, profiles: debug}\n' });
    expect(problemsIn(dir, ['stack.yml'])).toMatch(/^stack\.yml:2:29: services\.web\.profiles: expected a list/);
  });
});
