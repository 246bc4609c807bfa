import { EndpointSpec_Mode, FlotillaError, PortConfig_Protocol, type ServiceSpec } from '@flotilla/api';
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

  it.each([
    // [added, dropped] before; flags; [added, dropped] after (docker's own examples among them).
    [[[], []], { capAdd: ['net_admin'] }, [['CAP_NET_ADMIN'], []]],
    [[[], ['SYS_NICE']], { capAdd: ['SYS_NICE'] }, [[], []]],
    [[['NET_ADMIN'], []], { capDrop: ['CAP_NET_ADMIN'] }, [[], []]],
    [[['NET_ADMIN'], ['SYS_NICE']], { capAdd: ['SYS_NICE'], capDrop: ['NET_ADMIN'] }, [[], []]],
    // Given both ways at once, adding wins and the drop is not done.
    [[[], []], { capAdd: ['CHOWN'], capDrop: ['CHOWN'] }, [['CAP_CHOWN'], []]],
    // Already there: not there twice; removing what is not there adds it to the other list, as docker does.
    [[['NET_ADMIN'], []], { capAdd: ['NET_ADMIN', 'net_admin'] }, [['CAP_NET_ADMIN'], []]],
    [[[], ['MKNOD']], { capDrop: ['MKNOD'] }, [[], ['CAP_MKNOD']]],
    // ALL stands alone in its list; RESET empties a list before the rest is applied.
    [[['NET_ADMIN'], []], { capAdd: ['ALL'] }, [['ALL'], []]],
    [[[], ['MKNOD', 'CHOWN']], { capDrop: ['RESET', 'KILL'] }, [[], ['CAP_KILL']]],
    [[['NET_ADMIN', 'SYS_TIME'], ['KILL']], { capAdd: ['RESET'] }, [[], ['CAP_KILL']]],
  ] as const)('capabilities %j with %j become %j', ([add, drop], flags, [addAfter, dropAfter]) => {
    const start = current({ capAdd: [...add], capDrop: [...drop] });
    const after = updatedSpec(start, flags as unknown as FlagValues);
    expect(after.container?.capAdd).toEqual(addAfter);
    expect(after.container?.capDrop).toEqual(dropAfter);
    expect(hasUpdateFlags(flags as unknown as FlagValues)).toBe(true);
  });

  it('capabilities are left as written when neither --cap-add nor --cap-drop is given', () => {
    const start = current({ capAdd: ['net_admin'], capDrop: ['mknod'] });
    const after = updatedSpec(start, { envAdd: ['A=1'], capAdd: [], capDrop: [] });
    expect(after.container?.capAdd).toEqual(['net_admin']);
    expect(after.container?.capDrop).toEqual(['mknod']);
  });

  it('--entrypoint "" and --args "" go back to the image\'s own; a value overrides it', () => {
    const start = current({ entrypoint: '/bin/run --fast' });
    expect(start.container?.entrypointSet).toBe(true);
    const cleared = updatedSpec(start, { entrypoint: '' });
    expect(cleared.container?.entrypoint).toEqual([]);
    expect(cleared.container?.entrypointSet).toBe(false);
    const changed = updatedSpec(start, { entrypoint: '/bin/other "two words"', args: 'serve --port 80' });
    expect(changed.container?.entrypoint).toEqual(['/bin/other', 'two words']);
    expect(changed.container?.command).toEqual(['serve', '--port', '80']);
    expect(changed.container?.commandSet).toBe(true);
    const noArgs = updatedSpec(changed, { args: '' });
    expect(noArgs.container?.command).toEqual([]);
    expect(noArgs.container?.commandSet).toBe(false);
    // The entrypoint is not touched by --args.
    expect(noArgs.container?.entrypoint).toEqual(['/bin/other', 'two words']);
    expect(hasUpdateFlags({ entrypoint: '' })).toBe(true);
  });

  it('health flags as docker: "" goes back to the image\'s check, and a disabled check is enabled again', () => {
    expect(updatedSpec(base, { healthCmd: '' }).container?.healthcheck?.test).toEqual([]);
    // The interval set at create stays.
    expect(updatedSpec(base, { healthCmd: '' }).container?.healthcheck?.intervalNs).toBe(5_000_000_000n);
    const disabled = updatedSpec(base, { healthcheck: false });
    expect(disabled.container?.healthcheck?.test).toEqual(['NONE']);
    const enabled = updatedSpec(disabled, { healthInterval: '7s', healthStartInterval: '1s' });
    expect(enabled.container?.healthcheck?.test).toEqual([]);
    expect(enabled.container?.healthcheck?.intervalNs).toBe(7_000_000_000n);
    expect(enabled.container?.healthcheck?.startIntervalNs).toBe(1_000_000_000n);
    const withCmd = updatedSpec(disabled, { healthCmd: 'true', healthRetries: '2' });
    expect(withCmd.container?.healthcheck?.test).toEqual(['CMD-SHELL', 'true']);
    expect(() => updatedSpec(base, { healthcheck: false, healthRetries: '2' })).toThrow(/--no-healthcheck/);
  });

  it('--replicas-max-per-node changes the placement limit and nothing else of the placement', () => {
    const after = updatedSpec(base, { replicasMaxPerNode: '2' });
    expect(after.placement?.maxReplicasPerNode).toBe(2n);
    expect(after.placement?.constraints).toEqual(base.placement?.constraints);
  });

  it.each([
    ['dns', '8.8.8.8'],
    ['dns-option', 'ndots:2'],
    ['dns-search', 'example.org'],
    ['host', 'db:10.0.0.5'],
    ['group', 'audio'],
  ])("--%s-add and -rm change nothing and say why, in the stack key's words, each time", (pair, value) => {
    const option = pair.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    const warnings: string[] = [];
    const after = updatedSpec(base, { [`${option}Add`]: [value, value] }, (w) => warnings.push(w));
    expect(after).toEqual(base);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^--${pair}-add: ignored: `))]);
    const removed: string[] = [];
    expect(updatedSpec(base, { [`${option}Rm`]: [value] }, (w) => removed.push(w))).toEqual(base);
    expect(removed).toEqual([warnings[0]?.replace('-add:', '-rm:')]);
    expect(hasUpdateFlags({ [`${option}Rm`]: [value] })).toBe(true);
  });

  it('warns of nothing for flags the cluster honours', () => {
    const warnings: string[] = [];
    updatedSpec(base, { envAdd: ['X=1'], capAdd: ['NET_ADMIN'], healthCmd: '' }, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
  });

  it('--endpoint-mode changes the endpoint mode and keeps the published ports', () => {
    const after = updatedSpec(base, { endpointMode: 'dnsrr' });
    expect(after.endpoint?.mode).toBe(EndpointSpec_Mode.MODE_DNSRR);
    expect(after.endpoint?.ports).toEqual(base.endpoint?.ports);
  });

  it('--log-driver replaces the driver and its options, as docker does; --log-opt alone is refused', () => {
    const start = current({ logDriver: 'json-file', logOpt: ['max-size=10m', 'max-file=3'] });
    expect(start.logDriver?.options).toEqual({ 'max-size': '10m', 'max-file': '3' });
    const local = updatedSpec(start, { logDriver: 'local', logOpt: ['max-size=1m'] });
    expect(local.logDriver).toEqual({ name: 'local', options: { 'max-size': '1m' } });
    expect(updatedSpec(start, { logDriver: 'none' }).logDriver).toEqual({ name: 'none', options: {} });
    expect(updatedSpec(start, { envAdd: ['A=1'] }).logDriver).toEqual(start.logDriver);
    expect(() => updatedSpec(start, { logOpt: ['max-size=1m'] })).toThrow(/--log-driver/);
    const warnings: string[] = [];
    updatedSpec(start, { logDriver: 'json-file', logOpt: ['colour=red'] }, (w) => warnings.push(w));
    expect(warnings).toEqual([expect.stringMatching(/^--log-opt: ignored: /)]);
  });

  it.each([
    [{ tty: true }, '--tty'],
    [{ isolation: 'process' }, '--isolation'],
    [{ oomScoreAdj: '-500' }, '--oom-score-adj'],
    [{ credentialSpec: 'file://spec.json' }, '--credential-spec'],
  ])('%j changes nothing and is warned of as its stack key is', (flags, flag) => {
    const warnings: string[] = [];
    expect(updatedSpec(base, flags, (w) => warnings.push(w))).toEqual(base);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^${flag}: ignored`))]);
    expect(hasUpdateFlags(flags)).toBe(true);
  });
});
