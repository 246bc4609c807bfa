import { Option } from '@commander-js/extra-typings';
import { usageError } from './exit-codes.js';

/**
 * docker's `service create` flags, each with where its value goes in a Compose service: the flags build a
 * one-service Compose document, and that document goes through the stack loader (service-compose.ts), so
 * `service create` makes exactly the service a stack file with the same keys makes.
 */
export interface FlagDef {
  flag: string;
  value?: string;
  help: string;
  /** Where the value goes in the Compose service (dotted), for flags that map one to one. */
  key?: string;
  /** The Compose value for the flag's value (default: the string itself); undefined sets no key. */
  convert?: (value: string, flag: string) => unknown;
}

/** A whole number or decimal as a number (YAML would read it so); anything else is left for validation to name. */
export const numeric = (v: string): unknown => (/^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v);

export const SCALAR_FLAGS: readonly FlagDef[] = [
  { flag: '--replicas', value: 'N', help: 'number of tasks', key: 'deploy.replicas', convert: numeric },
  {
    flag: '--mode',
    value: 'MODE',
    help: 'replicated, global, replicated-job or global-job',
    key: 'deploy.mode',
  },
  { flag: '--limit-cpu', value: 'CPUS', help: 'CPU limit (e.g. 0.5)', key: 'deploy.resources.limits.cpus' },
  { flag: '--limit-memory', value: 'BYTES', help: 'memory limit (e.g. 256M)', key: 'deploy.resources.limits.memory' },
  {
    flag: '--limit-pids',
    value: 'N',
    help: 'process limit',
    key: 'deploy.resources.limits.pids',
    convert: numeric,
  },
  { flag: '--reserve-cpu', value: 'CPUS', help: 'CPUs to reserve', key: 'deploy.resources.reservations.cpus' },
  {
    flag: '--reserve-memory',
    value: 'BYTES',
    help: 'memory to reserve',
    key: 'deploy.resources.reservations.memory',
  },
  {
    flag: '--restart-condition',
    value: 'WHEN',
    help: 'none, on-failure or any',
    key: 'deploy.restart_policy.condition',
  },
  { flag: '--restart-delay', value: 'DURATION', help: 'delay between restarts', key: 'deploy.restart_policy.delay' },
  {
    flag: '--restart-max-attempts',
    value: 'N',
    help: 'restarts before giving up',
    key: 'deploy.restart_policy.max_attempts',
    convert: numeric,
  },
  {
    flag: '--restart-window',
    value: 'DURATION',
    help: 'window to judge a restart policy by',
    key: 'deploy.restart_policy.window',
  },
  ...rolloutFlags('update'),
  ...rolloutFlags('rollback'),
  {
    flag: '--health-cmd',
    value: 'COMMAND',
    help: 'healthcheck command (run by a shell)',
    key: 'healthcheck.test',
    // As docker's: an empty command sets no test (the image's healthcheck is kept).
    convert: (v) => (v === '' ? undefined : ['CMD-SHELL', v]),
  },
  { flag: '--health-interval', value: 'DURATION', help: 'time between checks', key: 'healthcheck.interval' },
  {
    flag: '--health-retries',
    value: 'N',
    help: 'failures in a row to be unhealthy',
    key: 'healthcheck.retries',
    convert: numeric,
  },
  { flag: '--health-timeout', value: 'DURATION', help: 'time a check may take', key: 'healthcheck.timeout' },
  {
    flag: '--health-start-period',
    value: 'DURATION',
    help: 'time to start before failures count',
    key: 'healthcheck.start_period',
  },
  {
    flag: '--health-start-interval',
    value: 'DURATION',
    help: 'time between checks during the start period',
    key: 'healthcheck.start_interval',
  },
  { flag: '--no-healthcheck', help: "disable the image's healthcheck", key: 'healthcheck.disable' },
  { flag: '--user', value: 'USER', help: 'user[:group] to run as', key: 'user' },
  { flag: '--workdir', value: 'DIR', help: 'working directory', key: 'working_dir' },
  { flag: '--init', help: 'run an init inside the container', key: 'init' },
  { flag: '--stop-signal', value: 'SIGNAL', help: 'signal to stop the container', key: 'stop_signal' },
  {
    flag: '--stop-grace-period',
    value: 'DURATION',
    help: 'time to wait before killing',
    key: 'stop_grace_period',
  },
  { flag: '--hostname', value: 'NAME', help: 'container hostname', key: 'hostname' },
  { flag: '--read-only', help: "mount the container's root filesystem read-only", key: 'read_only' },
  {
    flag: '--entrypoint',
    value: 'CMD',
    help: `override the image's entrypoint ("" for the image's own)`,
    key: 'entrypoint',
    // As docker's service commands: an empty value is no override, not an empty one.
    convert: (v) => (v === '' ? undefined : v),
  },
  {
    flag: '--replicas-max-per-node',
    value: 'N',
    help: 'most tasks of the service on one node (0: no limit)',
    key: 'deploy.placement.max_replicas_per_node',
    convert: numeric,
  },
  {
    flag: '--endpoint-mode',
    value: 'MODE',
    help: 'vip (a virtual IP) or dnsrr (DNS round robin)',
    key: 'deploy.endpoint_mode',
  },
  { flag: '--log-driver', value: 'DRIVER', help: 'logging driver, with its --log-opt options', key: 'logging.driver' },
  // docker's flags whose Compose key the stack loader ignores on a cluster: accepted, and said as a warning.
  { flag: '--tty', help: 'allocate a terminal (ignored on a cluster: said as a warning)', key: 'tty' },
  { flag: '--isolation', value: 'KIND', help: 'isolation (ignored on a cluster: said as a warning)', key: 'isolation' },
  {
    flag: '--oom-score-adj',
    value: 'N',
    help: 'OOM score adjustment (ignored on a cluster: said as a warning)',
    key: 'oom_score_adj',
    convert: numeric,
  },
  {
    flag: '--credential-spec',
    value: 'SPEC',
    help: 'Windows credential spec (ignored on a cluster: said as a warning)',
    key: 'credential_spec',
  },
  {
    flag: '--allow-process-executor',
    help: 'Flotilla: may run as a plain process on agents without containerd (x-flotilla)',
    key: 'x-flotilla.allow_process_executor',
  },
];

function rolloutFlags(kind: 'update' | 'rollback'): FlagDef[] {
  const key = `deploy.${kind}_config`;
  const what = kind === 'update' ? 'an update' : 'a rollback';
  return [
    {
      flag: `--${kind}-parallelism`,
      value: 'N',
      help: `tasks replaced at once in ${what}`,
      key: `${key}.parallelism`,
      convert: numeric,
    },
    { flag: `--${kind}-delay`, value: 'DURATION', help: `delay between batches of ${what}`, key: `${key}.delay` },
    { flag: `--${kind}-order`, value: 'ORDER', help: 'start-first or stop-first', key: `${key}.order` },
    {
      flag: `--${kind}-failure-action`,
      value: 'ACTION',
      help: `pause, continue${kind === 'update' ? ' or rollback' : ''} on failure`,
      key: `${key}.failure_action`,
    },
    {
      flag: `--${kind}-monitor`,
      value: 'DURATION',
      help: 'time to watch each task for failure',
      key: `${key}.monitor`,
    },
    {
      flag: `--${kind}-max-failure-ratio`,
      value: 'RATIO',
      help: 'failure rate tolerated (0 to 1)',
      key: `${key}.max_failure_ratio`,
      convert: numeric,
    },
  ];
}

/** Repeatable flags of `service create` (their `-add` forms in `service update`). */
export const LIST_FLAGS: readonly FlagDef[] = [
  { flag: '--publish', value: 'PORT', help: 'publish a port: [PUBLISHED:]TARGET[/PROTO] or published=,target=,…' },
  { flag: '--env', value: 'KEY=VALUE', help: 'set an environment variable' },
  { flag: '--label', value: 'KEY=VALUE', help: 'service label' },
  { flag: '--container-label', value: 'KEY=VALUE', help: 'container label' },
  { flag: '--network', value: 'NETWORK', help: 'attach to a network: NAME or name=,alias=' },
  { flag: '--mount', value: 'MOUNT', help: 'type=bind|volume|tmpfs,source=,target=,readonly,…' },
  { flag: '--constraint', value: 'EXPR', help: 'placement constraint (node.role==worker)' },
  { flag: '--secret', value: 'SECRET', help: 'give a secret: NAME or source=,target=,uid=,gid=,mode=' },
  { flag: '--config', value: 'CONFIG', help: 'give a config: NAME or source=,target=,uid=,gid=,mode=' },
  { flag: '--dns', value: 'IP', help: 'DNS server (ignored on a cluster: said as a warning)' },
  { flag: '--dns-option', value: 'OPTION', help: 'DNS option (ignored on a cluster: said as a warning)' },
  { flag: '--dns-search', value: 'DOMAIN', help: 'DNS search domain (ignored on a cluster: said as a warning)' },
  { flag: '--host', value: 'HOST:IP', help: 'extra host-to-IP mapping (ignored on a cluster: said as a warning)' },
  { flag: '--group', value: 'GROUP', help: 'supplementary group (ignored on a cluster: said as a warning)' },
];

/** The health flags that set a part of the check (`--no-healthcheck` cannot be given with them, as with docker). */
export const HEALTH_FLAGS = [
  '--health-cmd',
  '--health-interval',
  '--health-retries',
  '--health-timeout',
  '--health-start-period',
  '--health-start-interval',
] as const;

/** `--log-opt KEY=VALUE`: an option of the --log-driver (repeatable, in create and update alike). */
export const LOG_OPT_FLAG: FlagDef = { flag: '--log-opt', value: 'KEY=VALUE', help: 'logging driver option' };

/** Repeatable flags only `service create` has. */
export const CREATE_ONLY_LIST_FLAGS: readonly FlagDef[] = [
  LOG_OPT_FLAG,
  { flag: '--env-file', value: 'FILE', help: 'read environment variables from a file' },
  { flag: '--placement-pref', value: 'PREF', help: 'placement preference: spread=node.labels.zone' },
  { flag: '--cap-add', value: 'CAP', help: 'add a Linux capability' },
  { flag: '--cap-drop', value: 'CAP', help: 'drop a Linux capability' },
  { flag: '--sysctl', value: 'KEY=VALUE', help: 'namespaced kernel parameter' },
  { flag: '--ulimit', value: 'NAME=SOFT[:HARD]', help: 'ulimit' },
];

/** The camelCase name commander gives a flag's value. */
export function optionName(flag: string): string {
  return flag.replace(/^--(no-)?/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const collect = (value: string, all: string[]) => [...all, value];

/** Adds flags to a command; repeatable ones (`repeat`) collect their values, in order. */
export function addFlags(
  command: { addOption(option: Option): unknown },
  defs: readonly FlagDef[],
  repeat = false,
): void {
  for (const d of defs) {
    const spec = d.value ? `${d.flag} <${d.value}>` : d.flag;
    if (repeat) {
      command.addOption(new Option(spec, `${d.help} (repeatable)`).argParser(collect).default([] as string[]));
    } else command.addOption(new Option(spec, d.help));
  }
}

/**
 * A one-value flag's value when it was given: its string, or true for a switch. Commander keeps a `--no-X` switch
 * as X, true unless the flag is given.
 */
export function flagValue(def: FlagDef, values: FlagValues): string | true | undefined {
  const v = values[optionName(def.flag)];
  if (def.flag.startsWith('--no-')) return v === false ? true : undefined;
  if (v === undefined || v === false || Array.isArray(v)) return undefined;
  return v;
}

/** Values of the flags, as commander gives them. */
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** `key=value,key=value` (docker's long forms): each key once, from the allowed ones. */
export function csvFields(flag: string, value: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(',')) {
    if (!part) continue;
    const at = part.indexOf('=');
    const key = (at < 0 ? part : part.slice(0, at)).trim().toLowerCase();
    if (!allowed.includes(key)) {
      throw usageError(`${flag} "${value}": unknown field "${key}" (known: ${allowed.join(', ')})`);
    }
    if (out.has(key)) throw usageError(`${flag} "${value}": "${key}" is given twice`);
    out.set(key, at < 0 ? '' : part.slice(at + 1));
  }
  return out;
}

/** A `KEY=VALUE` flag value split; the key must be there. */
export function keyValue(flag: string, value: string): [string, string] {
  const at = value.indexOf('=');
  if (at <= 0) throw usageError(`${flag} takes KEY=VALUE, got "${value}"`);
  return [value.slice(0, at), value.slice(at + 1)];
}
