import path from 'node:path';
import { Option } from '@commander-js/extra-typings';
import { isValidObjectName, type ServiceSpec } from '@flotilla/api';
import { type FileSource, fsSource, loadStack, StackError, toStackSpec } from '@flotilla/stack';
import { usageError } from './exit-codes.js';
import {
  addFlags,
  CREATE_ONLY_LIST_FLAGS,
  csvFields,
  type FlagDef,
  type FlagValues,
  flagValue,
  HEALTH_FLAGS,
  keyValue,
  LIST_FLAGS,
  numeric,
  optionName,
  SCALAR_FLAGS,
} from './service-flags.js';

/** The one Compose service the flags describe, the top-level objects it names, and which flag made which key. */
export interface ComposeOfFlags {
  document: Record<string, unknown>;
  /** Compose key paths (`services.NAME.deploy.replicas`) and the flag that set each, for error messages. */
  origins: [string, string][];
}

/**
 * Builds the Compose document `service create NAME IMAGE COMMAND…` stands for. The networks, secrets, configs and
 * named volumes it names are external: a service created alone makes none of them. `$` is doubled everywhere so
 * that the loader's interpolation leaves the values as typed (the shell has already expanded what it meant to).
 * `scalars` are the one-value flags read (`service update` has one more: --args).
 */
export function composeOfFlags(
  name: string,
  image: string,
  args: readonly string[],
  values: FlagValues,
  scalars: readonly FlagDef[] = SCALAR_FLAGS,
): ComposeOfFlags {
  const service: Record<string, unknown> = { image };
  if (args.length > 0) service.command = [...args];
  const top: Record<string, Record<string, unknown>> = { networks: {}, secrets: {}, configs: {}, volumes: {} };
  const origins: [string, string][] = [];
  const at = (key: string, flag: string) => origins.push([`services.${name}.${key}`, flag]);

  const given = (flag: string) => scalars.some((d) => d.flag === flag && flagValue(d, values) !== undefined);
  if (given('--no-healthcheck') && HEALTH_FLAGS.some(given)) {
    throw usageError('--no-healthcheck conflicts with the --health-* flags: give one or the other');
  }
  for (const def of scalars) {
    const v = flagValue(def, values);
    if (v === undefined || !def.key) continue;
    const value = typeof v === 'string' ? (def.convert ? def.convert(v, def.flag) : v) : true;
    if (value === undefined) continue;
    setPath(service, def.key, value);
    at(def.key, def.flag);
  }
  const list = (flag: string) => (values[optionName(flag)] as string[] | undefined) ?? [];
  const put = (key: string, flag: string, items: unknown[]) => {
    if (items.length === 0) return;
    setPath(service, key, items);
    at(key, flag);
  };
  put(
    'ports',
    '--publish',
    list('--publish').map((p) => publishEntry(p)),
  );
  put('environment', '--env', list('--env'));
  put('env_file', '--env-file', list('--env-file'));
  put('deploy.labels', '--label', list('--label'));
  put('labels', '--container-label', list('--container-label'));
  put('deploy.placement.constraints', '--constraint', list('--constraint'));
  put(
    'deploy.placement.preferences',
    '--placement-pref',
    list('--placement-pref').map((p) => {
      const fields = csvFields('--placement-pref', p, ['spread']);
      return { spread: fields.get('spread') ?? '' };
    }),
  );
  put('cap_add', '--cap-add', list('--cap-add'));
  put('cap_drop', '--cap-drop', list('--cap-drop'));
  put('sysctls', '--sysctl', list('--sysctl'));
  put('logging.options', '--log-opt', list('--log-opt'));
  // The stack loader ignores these keys, with a warning that the command passes on (see specOfCompose).
  put('dns', '--dns', list('--dns'));
  put('dns_opt', '--dns-option', list('--dns-option'));
  put('dns_search', '--dns-search', list('--dns-search'));
  put('extra_hosts', '--host', list('--host'));
  put('group_add', '--group', list('--group'));
  const ulimits = list('--ulimit');
  if (ulimits.length > 0) {
    service.ulimits = Object.fromEntries(ulimits.map(ulimitEntry));
    at('ulimits', '--ulimit');
  }
  const mounts = list('--mount').map((m) => mountEntry(m));
  for (const m of mounts) {
    if (m.type === 'volume' && typeof m.source === 'string')
      (top.volumes as Record<string, unknown>)[m.source] = { external: true };
  }
  put('volumes', '--mount', mounts);
  const networks = list('--network').map(networkEntry);
  if (networks.length > 0) {
    service.networks = Object.fromEntries(
      networks.map((n) => [n.name, n.aliases.length ? { aliases: n.aliases } : null]),
    );
    for (const n of networks) (top.networks as Record<string, unknown>)[n.name] = { external: true };
    at('networks', '--network');
  }
  for (const kind of ['secret', 'config'] as const) {
    const refs = list(`--${kind}`).map((s) => fileEntry(`--${kind}`, s));
    for (const r of refs) (top[`${kind}s`] as Record<string, unknown>)[r.source] = { external: true };
    put(`${kind}s`, `--${kind}`, refs);
  }
  const document: Record<string, unknown> = { services: { [name]: service } };
  for (const [key, objects] of Object.entries(top)) {
    if (Object.keys(objects).length > 0) document[key] = objects;
  }
  return { document: escapeDollars(document) as Record<string, unknown>, origins };
}

/**
 * The stack the document is loaded as, for a moment: standalone() takes the service out of it again. A name no
 * one gives a network, since its default network (`PROJECT_default`) is dropped.
 */
const PROJECT = 'flotilla-service-create';

/**
 * The service spec the document stands for, by the stack files' own path (load, validate, normalize,
 * toStackSpec), then taken out of the stack: its name is NAME and its stack empty. A problem the loader finds is
 * a usage error naming the flag that caused it. What the loader warns of (a key a cluster cannot honour) is given
 * to `warn`, naming the flag too, so that nothing a flag asked for is dropped in silence.
 */
export function specOfCompose(
  name: string,
  made: ComposeOfFlags,
  cwd = process.cwd(),
  warn: (message: string) => void = () => {},
): ServiceSpec {
  // The document is read as if it were a file in the current directory, so relative --env-file paths work.
  const file = path.join(cwd, '.flotilla-service-create.yml');
  const text = JSON.stringify(made.document);
  const source: FileSource = {
    read: (f) => (f === file ? text : fsSource.read(f)),
    exists: (f) => f === file || fsSource.exists(f),
    ...(fsSource.readBytes ? { readBytes: fsSource.readBytes } : {}),
  };
  let spec: ServiceSpec | undefined;
  try {
    const loaded = loadStack({ files: [file], env: {}, envFile: false, projectName: PROJECT }, source);
    spec = toStackSpec(loaded.stack, PROJECT, loaded.objectData).services[0];
    for (const d of loaded.warnings) warn(`${flagOf(d.path, made.origins)}: ${d.message}`);
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    const lines = err.diagnostics
      .filter((d) => d.severity === 'error')
      .map((d) => `${flagOf(d.path, made.origins)}: ${d.message}`);
    throw usageError(lines.join('\n'));
  }
  if (!spec) throw usageError('the flags describe no service');
  return standalone(spec, name);
}

/** A stack's service as `service create` makes it: named NAME, in no stack. */
export function standalone(spec: ServiceSpec, name: string): ServiceSpec {
  const { 'com.docker.stack.namespace': _stack, ...labels } = spec.annotations?.labels ?? {};
  // A stack's service joins the stack's default network; one created alone joins only the networks it names, as
  // with docker.
  const networks = spec.networks.filter((n) => n.target !== `${spec.stack}_default`);
  return { ...spec, annotations: { name, labels }, stack: '', networks };
}

function flagOf(keyPath: string, origins: readonly [string, string][]): string {
  let best: [string, string] | undefined;
  for (const o of origins) {
    if (
      (keyPath === o[0] || keyPath.startsWith(`${o[0]}.`) || keyPath.startsWith(`${o[0]}[`)) &&
      (!best || o[0].length > best[0].length)
    )
      best = o;
  }
  return best ? best[1] : keyPath || 'the service';
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = target;
  for (const p of parts.slice(0, -1)) {
    at[p] ??= {};
    at = at[p] as Record<string, unknown>;
  }
  at[parts[parts.length - 1] as string] = value;
}

function escapeDollars(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('$', '$$$$');
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
  }
  return value;
}

/** `--publish 8080:80/udp` as Compose's short form, or docker's long form as Compose's long syntax. */
export function publishEntry(value: string): unknown {
  if (!value.includes('=')) return value;
  const f = csvFields('--publish', value, ['published', 'target', 'protocol', 'mode']);
  const out: Record<string, unknown> = {};
  for (const [k, v] of f) out[k] = k === 'target' ? numeric(v) : v;
  return out;
}

/** docker's `--mount` fields as Compose's long volume syntax. */
export function mountEntry(value: string): Record<string, unknown> {
  const f = csvFields('--mount', value, [
    'type',
    'source',
    'src',
    'target',
    'destination',
    'dst',
    'readonly',
    'ro',
    'bind-propagation',
    'bind-create-host-path',
    'volume-nocopy',
    'volume-subpath',
    'tmpfs-size',
    'tmpfs-mode',
  ]);
  const flag = (key: string) => {
    const v = f.get(key);
    if (v === undefined) return undefined;
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw usageError(`--mount "${value}": ${key} is true or false, got "${v}"`);
  };
  const out: Record<string, unknown> = { type: f.get('type') ?? 'volume' };
  const source = f.get('source') ?? f.get('src');
  if (source !== undefined) out.source = source;
  const target = f.get('target') ?? f.get('destination') ?? f.get('dst');
  if (target === undefined) throw usageError(`--mount "${value}": give its target=PATH`);
  out.target = target;
  const readOnly = flag('readonly') ?? flag('ro');
  if (readOnly !== undefined) out.read_only = readOnly;
  const bind: Record<string, unknown> = {};
  if (f.has('bind-propagation')) bind.propagation = f.get('bind-propagation');
  const create = flag('bind-create-host-path');
  if (create !== undefined) bind.create_host_path = create;
  if (Object.keys(bind).length) out.bind = bind;
  const volume: Record<string, unknown> = {};
  const nocopy = flag('volume-nocopy');
  if (nocopy !== undefined) volume.nocopy = nocopy;
  if (f.has('volume-subpath')) volume.subpath = f.get('volume-subpath');
  if (Object.keys(volume).length) out.volume = volume;
  const tmpfs: Record<string, unknown> = {};
  if (f.has('tmpfs-size')) tmpfs.size = f.get('tmpfs-size');
  if (f.has('tmpfs-mode')) tmpfs.mode = numeric(f.get('tmpfs-mode') as string);
  if (Object.keys(tmpfs).length) out.tmpfs = tmpfs;
  return out;
}

/** `--secret NAME` or docker's long form, as Compose's long syntax. */
export function fileEntry(flag: string, value: string): { source: string } & Record<string, unknown> {
  if (!value.includes('=')) return { source: value };
  const f = csvFields(flag, value, ['source', 'src', 'target', 'uid', 'gid', 'mode']);
  const source = f.get('source') ?? f.get('src');
  if (!source) throw usageError(`${flag} "${value}": give its source=NAME`);
  const out: { source: string } & Record<string, unknown> = { source };
  for (const k of ['target', 'uid', 'gid', 'mode'] as const) {
    const v = f.get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** `--network NAME` or `name=NAME,alias=A,alias=B`. */
export function networkEntry(value: string): { name: string; aliases: string[] } {
  if (!value.includes('=')) return { name: value, aliases: [] };
  const aliases: string[] = [];
  let name = '';
  for (const part of value.split(',')) {
    const [k, v = ''] = keyValue('--network', part);
    if (k === 'name') name = v;
    else if (k === 'alias') aliases.push(v);
    else throw usageError(`--network "${value}": unknown field "${k}" (known: name, alias)`);
  }
  if (!name) throw usageError(`--network "${value}": give its name=NETWORK`);
  return { name, aliases };
}

/** `--ulimit nofile=1024:2048` (or one number for both) as a Compose ulimits entry. */
function ulimitEntry(value: string): [string, unknown] {
  const [name, limits] = keyValue('--ulimit', value);
  const m = /^(\d+)(?::(\d+))?$/.exec(limits);
  if (!m) throw usageError(`--ulimit "${value}": use NAME=SOFT[:HARD] with whole numbers`);
  return [name, m[2] === undefined ? Number(m[1]) : { soft: Number(m[1]), hard: Number(m[2]) }];
}

/** `service create`'s own flags: --name and docker's service flags. */
export function addCreateFlags(command: { addOption(option: Option): unknown }): void {
  command.addOption(new Option('--name <NAME>', 'the service name'));
  addFlags(command, SCALAR_FLAGS);
  addFlags(command, [...LIST_FLAGS, ...CREATE_ONLY_LIST_FLAGS], true);
}

/**
 * The spec `service create IMAGE COMMAND… --flags` makes, with the warnings to show (flags the cluster cannot
 * honour), or a usage error naming the flag at fault.
 */
export function createSpec(
  image: string,
  args: readonly string[],
  values: FlagValues,
  cwd?: string,
): { spec: ServiceSpec; warnings: string[] } {
  const name = values.name;
  if (typeof name !== 'string' || !name) throw usageError('give the service a name with --name NAME');
  if (!isValidObjectName(name)) throw usageError(`--name "${name}": use letters, digits, _ . - (63 at most)`);
  const warnings: string[] = [];
  const spec = specOfCompose(name, composeOfFlags(name, image, args, values), cwd, (w) => warnings.push(w));
  return { spec, warnings };
}
