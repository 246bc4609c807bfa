import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ServiceMode, ServiceSpec, StackSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { StackError } from './diagnostics.js';
import { loadStack } from './load.js';
import { toStackSpec } from './service-spec.js';

const FIXTURES = path.resolve(import.meta.dirname, '../test/fixtures');
const fixtureFiles = (name: string, ...files: string[]) =>
  (files.length ? files : ['stack.yml']).map((f) => path.join(FIXTURES, name, f));

const ALL = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

// Variables a fixture needs that its .env does not give.
const EXTRA_ENV: Record<string, Record<string, string>> = {};

describe('realistic stack files', () => {
  it('has at least 15 multi-service fixtures', () => {
    expect(ALL.length).toBeGreaterThanOrEqual(15);
  });

  it.each(ALL)('%s loads, normalizes and converts to StackSpec', (name) => {
    const loaded = loadStack({ files: fixtureFiles(name), env: EXTRA_ENV[name] ?? {} });
    const services = Object.values(loaded.stack.services);
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) {
      expect(s.image).not.toBe('');
      expect(s.stop_grace_period).toBeGreaterThan(0n);
      expect(s.deploy.update_config.parallelism).toBeGreaterThanOrEqual(0);
    }
    const spec = toStackSpec(loaded.stack, name);
    // The canonical objects survive protobuf encoding unchanged.
    expect(StackSpec.decode(StackSpec.encode(spec).finish())).toEqual(spec);
    for (const svc of spec.services) expect(svc.annotations?.name.startsWith(`${name}_`)).toBe(true);
  });

  it('django-celery: .env interpolation, $$ escapes, merge keys and depends_on conditions', () => {
    const { stack } = loadStack({ files: fixtureFiles('django-celery'), env: {} });
    const web = stack.services.web!;
    expect(web.deploy.replicas).toBe(3);
    expect(web.image).toBe('registry.example.com/acme/webshop:2024.06.1');
    expect(web.depends_on).toEqual({
      migrate: { condition: 'service_completed_successfully', required: true },
      redis: { condition: 'service_started', required: true },
    });
    const worker = stack.services['celery-worker']!;
    expect(worker.command?.at(-1)).toContain('--hostname=worker@$HOSTNAME');
    expect(worker.environment.C_FORCE_ROOT).toBe('false');
    expect(stack.services.postgres!.healthcheck?.test).toEqual([
      'CMD-SHELL',
      'pg_isready -U webshop -d ${POSTGRES_DB}',
    ]);
  });

  it('the shell environment wins over .env', () => {
    const { stack } = loadStack({ files: fixtureFiles('django-celery'), env: { WEB_REPLICAS: '7' } });
    expect(stack.services.web!.deploy.replicas).toBe(7);
  });

  it('shop-microservices: three files merge in order and x-flotilla is kept', () => {
    const env = { TAG: 'v1', VERSION: '9', REPLICAS: '2', FRONTEND_REPLICAS: '3' };
    const base = loadStack({ files: fixtureFiles('shop-microservices'), env });
    const all = loadStack({
      files: fixtureFiles('shop-microservices', 'stack.yml', 'stack.override.yml', 'stack.prod.yml'),
      env,
    });
    expect(Object.keys(all.stack.services)).toContain('mailcatcher');
    expect(Object.keys(base.stack.services)).not.toContain('mailcatcher');
    expect(all.stack.extensions['x-flotilla']).toMatchObject({ rollout: { strategy: 'canary', steps: [10, 50, 100] } });
  });

  it('keycloak: a required variable that is not set stops the load with its message', () => {
    expect.assertions(3);
    try {
      loadStack({ files: fixtureFiles('keycloak'), env: {}, envFile: false });
    } catch (err) {
      expect(err).toBeInstanceOf(StackError);
      const text = (err as StackError).format();
      expect(text).toMatch(
        /stack\.yml:\d+:\d+: services\.\S+: required variable DB_PASSWORD is not set: set DB_PASSWORD/,
      );
      expect(text).toContain('.env file');
    }
  });

  it('nextcloud: keys a cluster ignores give warnings that say what happens instead', () => {
    const { warnings, stack } = loadStack({ files: fixtureFiles('nextcloud'), env: {} });
    const name = warnings.find((w) => w.path === 'services.db.container_name');
    expect(name?.severity).toBe('warning');
    expect(name?.message).toContain('<stack>_<service>');
    expect(name?.location?.line).toBeGreaterThan(1);
    // restart: always is mapped, as docker stack deploy maps it, when no deploy.restart_policy is set.
    expect(warnings.some((w) => w.path === 'services.db.restart')).toBe(false);
    expect(stack.services.db!.deploy.restart_policy.condition).toBe('any');
    expect(stack.services.app!.deploy.restart_policy.condition).toBe('on-failure');
  });

  it('dockercoins: services without networks join the default network', () => {
    const { stack } = loadStack({ files: fixtureFiles('dockercoins'), env: {} });
    for (const s of Object.values(stack.services)) expect(Object.keys(s.networks)).toEqual(['default']);
    expect(stack.networks.default).toEqual({ driver: 'overlay', external: false });
    const spec = toStackSpec(stack, 'coins');
    expect(spec.networks.map((n) => n.annotations?.name)).toEqual(['coins_default']);
    const rng = spec.services.find((s) => s.annotations?.name === 'coins_rng')!;
    expect(rng.mode).toBe(ServiceMode.SERVICE_MODE_GLOBAL);
    expect(rng.networks[0]?.aliases).toContain('rng');
  });

  it('edge-dns-turn: a udp port range expands to one port each', () => {
    const { stack } = loadStack({ files: fixtureFiles('edge-dns-turn'), env: {} });
    const udp = Object.values(stack.services)
      .flatMap((s) => s.ports)
      .filter((p) => p.protocol === 'udp' && p.target >= 49160 && p.target <= 49200);
    expect(udp).toHaveLength(41);
  });

  it('the ServiceSpec of a service carries every normalized value', () => {
    const { stack } = loadStack({ files: fixtureFiles('wordpress'), env: {} });
    const spec = toStackSpec(stack, 'blog');
    const wp = spec.services.find((s) => s.annotations?.name === 'blog_wordpress');
    expect(wp).toBeDefined();
    const decoded = ServiceSpec.decode(ServiceSpec.encode(wp!).finish());
    expect(decoded.container?.image).toMatch(/^wordpress:/);
    expect(decoded.resources?.limits?.memoryBytes).toBeGreaterThan(0n);
    expect(decoded.container?.stopGracePeriodNs).toBe(10_000_000_000n);
    expect(decoded.restartPolicy?.delayNs).toBeGreaterThan(0n);
  });
});
