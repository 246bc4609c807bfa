import { type Constraint, type PortConfig, PortConfig_Protocol, ServiceSpec } from '@flotilla/api';
import { usageError } from './exit-codes.js';
import { composeOfFlags, specOfCompose } from './service-compose.js';
import { type FlagDef, type FlagValues, flagValue, optionName, SCALAR_FLAGS } from './service-flags.js';

/** The add/rm pairs of `service update`, each named after the `service create` flag it adds to. */
export const UPDATE_PAIRS = [
  'env',
  'publish',
  'constraint',
  'mount',
  'network',
  'secret',
  'config',
  'label',
  'container-label',
  'placement-pref',
  'sysctl',
  'ulimit',
] as const;

/** `service create`'s one-value flags that `service update` takes as well (a service's mode cannot change). */
export const UPDATE_SCALAR_FLAGS: readonly FlagDef[] = [
  ...SCALAR_FLAGS.filter((d) => d.flag !== '--mode'),
  { flag: '--image', value: 'IMAGE', help: 'run this image' },
];

/**
 * Where each Compose key a scalar flag sets lands in the ServiceSpec: the update copies exactly those fields from
 * the spec the flags make (through the stack loader) onto the current spec, and leaves every other field alone.
 */
const SPEC_FIELDS: Record<string, readonly string[]> = {
  'deploy.replicas': ['replicas'],
  'deploy.resources.limits.cpus': ['resources.limits.nanoCpus'],
  'deploy.resources.limits.memory': ['resources.limits.memoryBytes'],
  'deploy.resources.limits.pids': ['resources.limits.pids'],
  'deploy.resources.reservations.cpus': ['resources.reservations.nanoCpus'],
  'deploy.resources.reservations.memory': ['resources.reservations.memoryBytes'],
  'deploy.restart_policy.condition': ['restartPolicy.condition'],
  'deploy.restart_policy.delay': ['restartPolicy.delayNs'],
  'deploy.restart_policy.max_attempts': ['restartPolicy.maxAttempts'],
  'deploy.restart_policy.window': ['restartPolicy.windowNs'],
  ...rolloutFields('update', 'updateConfig'),
  ...rolloutFields('rollback', 'rollbackConfig'),
  'healthcheck.test': ['container.healthcheck.test'],
  'healthcheck.interval': ['container.healthcheck.intervalNs'],
  'healthcheck.retries': ['container.healthcheck.retries'],
  'healthcheck.timeout': ['container.healthcheck.timeoutNs'],
  'healthcheck.start_period': ['container.healthcheck.startPeriodNs'],
  'healthcheck.disable': ['container.healthcheck'],
  user: ['container.user'],
  working_dir: ['container.workingDir'],
  init: ['container.init'],
  stop_signal: ['container.stopSignal'],
  stop_grace_period: ['container.stopGracePeriodNs'],
  hostname: ['container.hostname'],
  read_only: ['container.readOnly'],
  entrypoint: ['container.entrypoint', 'container.entrypointSet'],
  'x-flotilla.allow_process_executor': ['placement.allowProcessExecutor'],
};

function rolloutFields(kind: string, field: string): Record<string, string[]> {
  const fields = {
    parallelism: 'parallelism',
    delay: 'delayNs',
    order: 'order',
    failure_action: 'failureAction',
    monitor: 'monitorNs',
    max_failure_ratio: 'maxFailureRatio',
  };
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [`deploy.${kind}_config.${k}`, [`${field}.${f}`]]));
}

/** Whether the flags ask for anything beyond what the old request fields carry. */
export function hasUpdateFlags(values: FlagValues): boolean {
  return (
    UPDATE_SCALAR_FLAGS.some((d) => flagValue(d, values) !== undefined) ||
    UPDATE_PAIRS.some((p) => listOf(values, `--${p}-add`).length > 0 || listOf(values, `--${p}-rm`).length > 0)
  );
}

/**
 * The spec `service update` asks for: `current` with the flags applied. What the flags add goes through the same
 * conversion as `service create` (a one-service Compose document through the stack loader), so an added port,
 * mount or secret means what it means in a stack file.
 */
export function updatedSpec(current: ServiceSpec, values: FlagValues): ServiceSpec {
  const spec = ServiceSpec.fromPartial(current);
  const name = spec.annotations?.name ?? '';
  // The name the service has in its stack file: networks give it as an alias.
  const key = spec.stack && name.startsWith(`${spec.stack}_`) ? name.slice(spec.stack.length + 1) : name;
  const image = (values.image as string | undefined) ?? spec.container?.image ?? '';
  if (values.image !== undefined && !image.trim()) throw usageError('--image needs an image reference');
  const probeValues: FlagValues = {};
  for (const d of UPDATE_SCALAR_FLAGS) probeValues[optionName(d.flag)] = values[optionName(d.flag)];
  for (const p of UPDATE_PAIRS) probeValues[optionName(`--${p}`)] = listOf(values, `--${p}-add`);
  const made = composeOfFlags(key, image, [], probeValues);
  const probe = specOfCompose(key, made);
  const container = spec.container ?? ServiceSpec.fromPartial({ container: {} }).container!;
  spec.container = container;
  container.image = image;
  for (const [composeKey] of made.origins.map(([k, f]) => [k.slice(`services.${key}.`.length), f])) {
    for (const field of SPEC_FIELDS[composeKey as string] ?? []) copyField(probe, spec, field);
  }
  applyPairs(spec, probe, values, key, image);
  return ServiceSpec.fromPartial(spec);
}

function applyPairs(spec: ServiceSpec, probe: ServiceSpec, values: FlagValues, key: string, image: string): void {
  const container = spec.container!;
  const added = probe.container!;
  const rm = (pair: string) => new Set(listOf(values, `--${pair}-rm`));
  // Environment: by variable name.
  const env = new Map(container.env.map((e) => [e.split('=')[0] as string, e]));
  for (const k of rm('env')) env.delete(k);
  for (const e of added.env) env.set(e.split('=')[0] as string, e);
  container.env = [...env.values()];
  // Labels: by key.
  container.labels = mergeMap(container.labels, added.labels, rm('container-label'));
  const annotations = spec.annotations ?? { name: '', labels: {} };
  annotations.labels = mergeMap(annotations.labels, probe.annotations?.labels ?? {}, rm('label'));
  spec.annotations = annotations;
  // Ports: removed by target port (TARGET[/PROTOCOL], as docker has it); an added port replaces one published
  // on the same port and protocol.
  const portsRm = listOf(values, '--publish-rm').map(publishRm);
  const endpoint = spec.endpoint ?? { mode: 0, ports: [] };
  const samePublished = (a: PortConfig, b: PortConfig) =>
    a.protocol === b.protocol &&
    (a.publishedPort ? a.publishedPort === b.publishedPort : a.targetPort === b.targetPort);
  endpoint.ports = [
    ...endpoint.ports.filter(
      (p) =>
        !portsRm.some((r) => r.target === p.targetPort && (r.protocol === undefined || r.protocol === p.protocol)) &&
        !(probe.endpoint?.ports ?? []).some((a) => samePublished(a, p)),
    ),
    ...(probe.endpoint?.ports ?? []),
  ];
  spec.endpoint = endpoint;
  // Constraints: removed as written (read by the same parser), added unless already there.
  const constraintsRm = constraintsOf(listOf(values, '--constraint-rm'), key, image, '--constraint-rm');
  const placement = spec.placement ?? ServiceSpec.fromPartial({ placement: {} }).placement!;
  const same = (a: Constraint, b: Constraint) =>
    a.field === b.field && a.operator === b.operator && a.value === b.value;
  const added2 = probe.placement?.constraints ?? [];
  placement.constraints = [
    ...placement.constraints.filter((c) => !constraintsRm.some((r) => same(r, c)) && !added2.some((a) => same(a, c))),
    ...added2,
  ];
  spec.placement = placement;
  // Mounts: by target.
  const mountsRm = rm('mount');
  container.mounts = [
    ...container.mounts.filter((m) => !mountsRm.has(m.target) && !added.mounts.some((a) => a.target === m.target)),
    ...added.mounts,
  ];
  // Networks: by name.
  const networksRm = rm('network');
  spec.networks = [
    ...spec.networks.filter((n) => !networksRm.has(n.target) && !probe.networks.some((a) => a.target === n.target)),
    ...probe.networks,
  ];
  // Secrets and configs: by name; an added one is pinned to its newest version by the manager.
  const secretsRm = rm('secret');
  container.secrets = [
    ...container.secrets.filter((s) => !secretsRm.has(s.source) && !added.secrets.some((a) => a.source === s.source)),
    ...added.secrets,
  ];
  // Placement preferences: by what they spread over (`spread=node.labels.zone`, or the label alone).
  const spreadRm = new Set(listOf(values, '--placement-pref-rm').map((v) => v.replace(/^spread=/, '')));
  const spreadAdded = probe.placement?.spread ?? [];
  placement.spread = [...placement.spread.filter((p) => !spreadRm.has(p) && !spreadAdded.includes(p)), ...spreadAdded];
  // Sysctls and ulimits: by name.
  container.sysctls = mergeMap(container.sysctls, added.sysctls, rm('sysctl'));
  const ulimitsRm = rm('ulimit');
  container.ulimits = [
    ...container.ulimits.filter((u) => !ulimitsRm.has(u.name) && !added.ulimits.some((a) => a.name === u.name)),
    ...added.ulimits,
  ];
  const configsRm = rm('config');
  container.configs = [
    ...container.configs.filter((s) => !configsRm.has(s.source) && !added.configs.some((a) => a.source === s.source)),
    ...added.configs,
  ];
}

function mergeMap(
  current: Record<string, string>,
  added: Record<string, string>,
  removed: ReadonlySet<string>,
): Record<string, string> {
  const out = Object.fromEntries(Object.entries(current).filter(([k]) => !removed.has(k)));
  return { ...out, ...added };
}

function constraintsOf(exprs: string[], key: string, image: string, flag: string): Constraint[] {
  if (exprs.length === 0) return [];
  const made = composeOfFlags(key, image, [], { constraint: exprs });
  // A problem is said about the flag the value came from.
  made.origins = made.origins.map(([k]) => [k, flag]);
  return specOfCompose(key, made).placement?.constraints ?? [];
}

const PROTOCOLS: Record<string, PortConfig_Protocol> = {
  tcp: PortConfig_Protocol.PROTOCOL_TCP,
  udp: PortConfig_Protocol.PROTOCOL_UDP,
  sctp: PortConfig_Protocol.PROTOCOL_SCTP,
};

function publishRm(value: string): { target: number; protocol?: PortConfig_Protocol } {
  const m = /^(?:\d+:)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(value);
  if (!m) throw usageError(`--publish-rm takes TARGET[/PROTOCOL] (for example 80/tcp), got "${value}"`);
  return { target: Number(m[1]), ...(m[2] ? { protocol: PROTOCOLS[m[2]] as PortConfig_Protocol } : {}) };
}

function listOf(values: FlagValues, flag: string): string[] {
  return (values[optionName(flag)] as string[] | undefined) ?? [];
}

/** Copies one dotted field from `from` to `to`, making the objects on the way. */
function copyField(from: object, to: object, field: string): void {
  const parts = field.split('.');
  let src: unknown = from;
  let dst = to as Record<string, unknown>;
  for (const [i, p] of parts.entries()) {
    src = (src as Record<string, unknown> | undefined)?.[p];
    if (i === parts.length - 1) {
      dst[p] = structuredClone(src);
      return;
    }
    if (dst[p] === undefined || dst[p] === null) dst[p] = {};
    dst = dst[p] as Record<string, unknown>;
  }
}
