import { type Constraint, capabilityName, type PortConfig, PortConfig_Protocol, ServiceSpec } from '@flotilla/api';
import { usageError } from './exit-codes.js';
import { composeOfFlags, specOfCompose } from './service-compose.js';
import {
  type FlagDef,
  type FlagValues,
  flagValue,
  HEALTH_FLAGS,
  LOG_OPT_FLAG,
  optionName,
  SCALAR_FLAGS,
} from './service-flags.js';

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
  ...['dns', 'dns-option', 'dns-search', 'host', 'group'],
] as const;

/**
 * The pairs whose Compose key the stack loader ignores with a warning (the spec has no field for them): what they
 * add is warned of by the loader, and what they remove is warned of in the same words, as nothing can be there.
 */
const UNHONOURED_PAIRS: readonly string[] = ['dns', 'dns-option', 'dns-search', 'host', 'group'];

/** What each `service update --X-rm` removes by. */
const REMOVED_BY: Record<(typeof UPDATE_PAIRS)[number], string> = {
  env: 'a variable by name',
  publish: 'a port by TARGET[/PROTOCOL]',
  constraint: 'a constraint as written',
  mount: 'a mount by target path',
  network: 'a network by name',
  secret: 'a secret by name',
  config: 'a config by name',
  label: 'a service label by key',
  'container-label': 'a container label by key',
  'placement-pref': 'a placement preference by spread=LABEL',
  sysctl: 'a sysctl by name',
  ulimit: 'a ulimit by name',
  dns: 'a DNS server',
  'dns-option': 'a DNS option',
  'dns-search': 'a DNS search domain',
  host: 'a host mapping by HOST or HOST:IP',
  group: 'a supplementary group',
};

/** The repeatable flags of `service update`: the add/rm pairs, and docker's --cap-add/--cap-drop. */
export const UPDATE_LIST_FLAGS: readonly FlagDef[] = [
  ...UPDATE_PAIRS.flatMap((p) => [
    { flag: `--${p}-add`, value: 'VALUE', help: `add as --${p} does in service create` },
    { flag: `--${p}-rm`, value: 'KEY', help: `remove ${REMOVED_BY[p]}` },
  ]),
  { flag: '--cap-add', value: 'CAP', help: 'add a capability, or take it off the dropped ones (RESET: none added)' },
  { flag: '--cap-drop', value: 'CAP', help: 'drop a capability, or take it off the added ones (RESET: none dropped)' },
  { ...LOG_OPT_FLAG, help: 'logging driver option (with --log-driver: the options are replaced)' },
];

/** `service create`'s one-value flags that `service update` takes as well (a service's mode cannot change). */
export const UPDATE_SCALAR_FLAGS: readonly FlagDef[] = [
  ...SCALAR_FLAGS.filter((d) => d.flag !== '--mode'),
  { flag: '--image', value: 'IMAGE', help: 'run this image' },
  {
    flag: '--args',
    value: 'COMMAND',
    help: `the command's arguments, split as a shell would ("" for the image's own)`,
    key: 'command',
    convert: (v) => (v === '' ? undefined : v),
  },
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
  'healthcheck.start_interval': ['container.healthcheck.startIntervalNs'],
  'healthcheck.disable': ['container.healthcheck'],
  user: ['container.user'],
  working_dir: ['container.workingDir'],
  init: ['container.init'],
  stop_signal: ['container.stopSignal'],
  stop_grace_period: ['container.stopGracePeriodNs'],
  hostname: ['container.hostname'],
  read_only: ['container.readOnly'],
  entrypoint: ['container.entrypoint', 'container.entrypointSet'],
  command: ['container.command', 'container.commandSet'],
  'deploy.placement.max_replicas_per_node': ['placement.maxReplicasPerNode'],
  'x-flotilla.allow_process_executor': ['placement.allowProcessExecutor'],
  'deploy.endpoint_mode': ['endpoint.mode'],
  // As docker's: a new driver comes with its own options (none unless --log-opt gives them).
  'logging.driver': ['logDriver'],
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
    UPDATE_LIST_FLAGS.some((d) => listOf(values, d.flag).length > 0)
  );
}

/**
 * The spec `service update` asks for: `current` with the flags applied. What the flags add goes through the same
 * conversion as `service create` (a one-service Compose document through the stack loader), so an added port,
 * mount or secret means what it means in a stack file. What the cluster cannot honour is given to `warn`.
 */
export function updatedSpec(
  current: ServiceSpec,
  values: FlagValues,
  warn: (message: string) => void = () => {},
): ServiceSpec {
  const spec = ServiceSpec.fromPartial(current);
  const name = spec.annotations?.name ?? '';
  // The name the service has in its stack file: networks give it as an alias.
  const key = spec.stack && name.startsWith(`${spec.stack}_`) ? name.slice(spec.stack.length + 1) : name;
  const image = (values.image as string | undefined) ?? spec.container?.image ?? '';
  if (values.image !== undefined && !image.trim()) throw usageError('--image needs an image reference');
  const probeValues: FlagValues = {};
  for (const d of UPDATE_SCALAR_FLAGS) probeValues[optionName(d.flag)] = values[optionName(d.flag)];
  for (const p of UPDATE_PAIRS) probeValues[optionName(`--${p}`)] = listOf(values, `--${p}-add`);
  probeValues.logOpt = listOf(values, '--log-opt');
  if (probeValues.logOpt.length > 0 && values.logDriver === undefined) {
    throw usageError('--log-opt replaces the options of a driver: give the driver with --log-driver too');
  }
  const made = composeOfFlags(key, image, [], probeValues, UPDATE_SCALAR_FLAGS);
  // A problem is said about the flag given: --env-add, not the --env it stands for here.
  made.origins = made.origins.map(([k, f]) => [k, pairOf(f) ? `${f}-add` : f]);
  const probe = specOfCompose(key, made, undefined, warn);
  const container = spec.container ?? ServiceSpec.fromPartial({ container: {} }).container!;
  spec.container = container;
  container.image = image;
  for (const [composeKey] of made.origins.map(([k, f]) => [k.slice(`services.${key}.`.length), f])) {
    for (const field of SPEC_FIELDS[composeKey as string] ?? []) copyField(probe, spec, field);
  }
  clearOverrides(container, values);
  applyPairs(spec, probe, values, key, image);
  applyCapabilities(container, values);
  warnUnhonouredRemovals(values, key, image, warn);
  return ServiceSpec.fromPartial(spec);
}

const pairOf = (flag: string) => (UPDATE_PAIRS as readonly string[]).includes(flag.slice(2));

/**
 * docker's empty values: `--entrypoint ""` and `--args ""` go back to the image's own, `--health-cmd ""` to the
 * image's check; a change to a disabled healthcheck that gives no command enables the image's check again.
 */
function clearOverrides(container: NonNullable<ServiceSpec['container']>, values: FlagValues): void {
  if (values.entrypoint === '') {
    container.entrypoint = [];
    container.entrypointSet = false;
  }
  if (values.args === '') {
    container.command = [];
    container.commandSet = false;
  }
  const health = container.healthcheck;
  if (!health) return;
  const healthGiven = HEALTH_FLAGS.some((f) => values[optionName(f)] !== undefined);
  if (values.healthCmd === '' || (healthGiven && values.healthCmd === undefined && health.test[0] === 'NONE')) {
    health.test = [];
  }
}

/**
 * docker's --cap-add and --cap-drop on an update: a capability added comes off the dropped list if it is there,
 * and goes on the added list only if it was not (and the other way round); both given, adding wins. RESET
 * empties a list first. Names are compared as the kernel spells them (CAP_ prefixed, upper case), and a list
 * that holds ALL is ALL alone.
 */
function applyCapabilities(container: NonNullable<ServiceSpec['container']>, values: FlagValues): void {
  const toAdd = new Set(listOf(values, '--cap-add').map(capabilityName));
  const toDrop = new Set(listOf(values, '--cap-drop').map(capabilityName));
  if (toAdd.size === 0 && toDrop.size === 0) return;
  const added = new Set(container.capAdd.map(capabilityName));
  const dropped = new Set(container.capDrop.map(capabilityName));
  const reset = (asked: Set<string>, list: Set<string>) => {
    if (asked.delete('CAP_RESET')) list.clear();
  };
  reset(toAdd, added);
  reset(toDrop, dropped);
  for (const c of toDrop) {
    if (toAdd.has(c)) continue;
    if (!added.delete(c)) dropped.add(c);
  }
  for (const c of toAdd) if (!dropped.delete(c)) added.add(c);
  const list = (caps: Set<string>) => (caps.has('ALL') ? ['ALL'] : [...caps].sort());
  container.capAdd = list(added);
  container.capDrop = list(dropped);
}

/** The -rm of a pair whose key the loader ignores removes nothing: said in the loader's own words. */
function warnUnhonouredRemovals(values: FlagValues, key: string, image: string, warn: (m: string) => void): void {
  for (const pair of UNHONOURED_PAIRS) {
    const removed = listOf(values, `--${pair}-rm`);
    if (removed.length === 0) continue;
    const made = composeOfFlags(key, image, [], { [optionName(`--${pair}`)]: removed });
    made.origins = made.origins.map(([k]) => [k, `--${pair}-rm`]);
    specOfCompose(key, made, undefined, warn);
  }
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
