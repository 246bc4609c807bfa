import { FlotillaError, PortConfig_Protocol, type ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { composeOfFlags, specOfCompose } from './service-compose.js';
import type { FlagValues } from './service-flags.js';
import { hasUpdateFlags, updatedSpec } from './service-update.js';

/** A service as `service create` would have made it. */
function current(values: FlagValues): ServiceSpec {
  return specOfCompose('web', composeOfFlags('web', 'nginx:1', [], values));
}

const base = current({
  replicas: '2',
  env: ['A=1', 'B=2'],
  publish: ['8080:80', '5353:53/udp'],
  constraint: ['node.role==worker'],
  mount: ['type=bind,source=/srv,target=/data'],
  network: ['front'],
  secret: ['db'],
  label: ['tier=front'],
  containerLabel: ['team=web'],
  limitMemory: '256M',
  updateParallelism: '2',
  healthCmd: 'true',
  healthInterval: '5s',
});

describe('service update: the flags applied to the current spec', () => {
  it('adds and removes by the key docker removes by, and leaves the rest as it was', () => {
    const after = updatedSpec(base, {
      envAdd: ['B=3', 'C=4'],
      envRm: ['A'],
      publishAdd: ['published=9090,target=90'],
      publishRm: ['53/udp'],
      constraintAdd: ['node.labels.zone==a'],
      constraintRm: ['node.role == worker'],
      mountAdd: ['type=tmpfs,target=/tmp'],
      mountRm: ['/data'],
      networkAdd: ['back'],
      networkRm: ['front'],
      secretAdd: ['api_key'],
      secretRm: ['db'],
      labelAdd: ['owner=ops'],
      labelRm: ['tier'],
      containerLabelAdd: ['build=7'],
      containerLabelRm: ['team'],
    });
    expect(after.container?.env).toEqual(['B=3', 'C=4']);
    expect(after.endpoint?.ports.map((p) => [p.publishedPort, p.targetPort, p.protocol])).toEqual([
      [8080, 80, PortConfig_Protocol.PROTOCOL_TCP],
      [9090, 90, PortConfig_Protocol.PROTOCOL_TCP],
    ]);
    expect(after.placement?.constraints.map((c) => c.field)).toEqual(['node.labels.zone']);
    expect(after.container?.mounts.map((m) => m.target)).toEqual(['/tmp']);
    expect(after.networks.map((n) => n.target)).toEqual(['back']);
    expect(after.container?.secrets.map((s) => [s.source, s.objectId])).toEqual([['api_key', '']]);
    expect(after.annotations?.labels).toEqual({ owner: 'ops' });
    expect(after.container?.labels).toEqual({ build: '7' });
    // Not named by a flag: unchanged.
    expect(after.replicas).toBe(2n);
    expect(after.resources).toEqual(base.resources);
    expect(after.updateConfig).toEqual(base.updateConfig);
    expect(after.container?.healthcheck).toEqual(base.container?.healthcheck);
    expect(after.annotations?.name).toBe('web');
  });

  it('placement preferences, sysctls and ulimits are added and removed by name', () => {
    const start = current({
      placementPref: ['spread=node.labels.zone'],
      sysctl: ['net.core.somaxconn=1024', 'net.ipv4.ip_forward=0'],
      ulimit: ['nofile=1024:2048', 'nproc=100'],
    });
    const after = updatedSpec(start, {
      placementPrefAdd: ['spread=node.labels.rack'],
      placementPrefRm: ['spread=node.labels.zone'],
      sysctlAdd: ['net.ipv4.ip_forward=1'],
      sysctlRm: ['net.core.somaxconn'],
      ulimitAdd: ['nofile=4096'],
      ulimitRm: ['nproc'],
    });
    expect(after.placement?.spread).toEqual(['node.labels.rack']);
    expect(after.container?.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(after.container?.ulimits.map((u) => [u.name, u.soft, u.hard])).toEqual([['nofile', 4096n, 4096n]]);
  });

  it('one-value flags change only their field', () => {
    const after = updatedSpec(base, {
      image: 'nginx:2',
      replicas: '5',
      limitCpu: '0.5',
      updateOrder: 'start-first',
      healthRetries: '7',
      user: 'nobody',
    });
    expect(after.container?.image).toBe('nginx:2');
    expect(after.replicas).toBe(5n);
    expect(after.resources?.limits?.nanoCpus).toBe(500_000_000n);
    // The memory limit set at create stays.
    expect(after.resources?.limits?.memoryBytes).toBe(256n * 1024n * 1024n);
    expect(after.updateConfig?.parallelism).toBe(2n);
    expect(after.updateConfig?.order).not.toBe(base.updateConfig?.order);
    expect(after.container?.healthcheck?.retries).toBe(7);
    expect(after.container?.healthcheck?.test).toEqual(['CMD-SHELL', 'true']);
    expect(after.container?.user).toBe('nobody');
    expect(after.container?.env).toEqual(base.container?.env);
  });

  it('--no-healthcheck replaces the healthcheck; no flag at all changes nothing', () => {
    expect(updatedSpec(base, { healthcheck: false }).container?.healthcheck?.test).toEqual(['NONE']);
    // Commander keeps --no-healthcheck as healthcheck: true when it is not given.
    expect(hasUpdateFlags({ healthcheck: true, envAdd: [], envRm: [] })).toBe(false);
    expect(hasUpdateFlags({ healthcheck: false })).toBe(true);
    expect(updatedSpec(base, { healthcheck: true })).toEqual(base);
  });

  it.each([
    [{ replicas: 'many' }, '--replicas'],
    [{ publishAdd: ['http'] }, '--publish'],
    [{ publishRm: ['http'] }, '--publish-rm'],
    [{ constraintRm: ['node.role~x'] }, '--constraint-rm'],
    [{ image: ' ' }, '--image'],
  ])('%j is a usage error naming %s', (values, flag) => {
    let error: unknown;
    try {
      updatedSpec(base, values as FlagValues);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FlotillaError);
    expect((error as FlotillaError).message).toContain(flag);
    expect((error as FlotillaError).reason).toBe('usage');
  });
});
