import {
  Constraint_Operator,
  Dependency_Condition,
  EndpointSpec_Mode,
  type FieldChange,
  Mount_Type,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  RestartPolicy_Condition,
  ServiceMode,
  ServiceSpec,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
} from '@flotilla/api';

/**
 * The fields that differ between two service specs, as a person reads them: paths in the proto's snake_case
 * (`container.image`, `resources.limits.memory_bytes`), map and env entries by key (`container.env[MODE]`), list
 * entries by what identifies them (`container.mounts[/data]`), enums by name, durations and sizes with units.
 * An unset side (empty string, zero, absent entry or message) has no value. Pure.
 */
export function diffSpecs(before: ServiceSpec | undefined, after: ServiceSpec | undefined): FieldChange[] {
  const out: FieldChange[] = [];
  walk('', '', ServiceSpec.fromPartial(before ?? {}), ServiceSpec.fromPartial(after ?? {}), out);
  return out;
}

type Enum = Record<number, string>;

/** Enum fields, by shape (the path with list keys left out). */
const ENUMS: Record<string, Enum> = {
  mode: ServiceMode,
  'endpoint.mode': EndpointSpec_Mode,
  'endpoint.ports[].protocol': PortConfig_Protocol,
  'endpoint.ports[].publish_mode': PortConfig_PublishMode,
  'container.mounts[].type': Mount_Type,
  'restart_policy.condition': RestartPolicy_Condition,
  'update_config.failure_action': UpdateConfig_FailureAction,
  'rollback_config.failure_action': UpdateConfig_FailureAction,
  'update_config.order': UpdateConfig_Order,
  'rollback_config.order': UpdateConfig_Order,
  'depends_on[].condition': Dependency_Condition,
};

/** String maps: entries are compared one by one, `labels[KEY]`. */
const MAPS = new Set(['annotations.labels', 'container.labels', 'container.sysctls', 'log_driver.options']);

/** Repeated messages whose entries have an identity: compared entry by entry, `mounts[/data].read_only`. */
const KEYED: Record<string, (entry: Record<string, unknown>) => string> = {
  'container.mounts': (m) => String(m.target),
  'container.ulimits': (u) => String(u.name),
  'container.configs': (f) => String(f.target || f.source),
  'container.secrets': (f) => String(f.target || f.source),
  'endpoint.ports': (p) => `${p.targetPort}/${enumWord(PortConfig_Protocol, p.protocol as number) ?? 'tcp'}`,
  networks: (n) => String(n.target),
  depends_on: (d) => String(d.service),
};

/** Repeated messages read as one list of short texts, the way stack files write them. */
const AS_TEXT: Record<string, (entry: Record<string, unknown>) => string> = {
  'placement.constraints': (c) =>
    `${c.field}${c.operator === Constraint_Operator.OPERATOR_NEQ ? '!=' : '=='}${c.value}`,
  'placement.platforms': (p) => `${p.os || '*'}/${p.architecture || '*'}`,
};

/** File modes, shown in octal. */
const FILE_MODES = new Set(['container.mounts[].tmpfs_mode', 'container.configs[].mode', 'container.secrets[].mode']);

/** Numbers for which zero means something (elsewhere zero is the unset default). */
const ZERO_MEANS_ZERO = new Set(['replicas']);

function walk(path: string, shape: string, a: unknown, b: unknown, out: FieldChange[]): void {
  const keyOf = KEYED[shape];
  const text = AS_TEXT[shape];
  if (shape === 'container.env') {
    walkEntries(path, envMap(a), envMap(b), out);
  } else if (MAPS.has(shape)) {
    walkEntries(path, (a ?? {}) as Record<string, string>, (b ?? {}) as Record<string, string>, out);
  } else if (keyOf) {
    walkKeyed(path, shape, keyOf, asList(a), asList(b), out);
  } else if (text) {
    leaf(path, list(asList(a).map(text)), list(asList(b).map(text)), out);
  } else if (Array.isArray(a) || Array.isArray(b)) {
    leaf(path, list(asList(a)), list(asList(b)), out);
  } else if (isMessage(a) || isMessage(b)) {
    const left = (a ?? {}) as Record<string, unknown>;
    const right = (b ?? {}) as Record<string, unknown>;
    for (const key of union(Object.keys(left), Object.keys(right))) {
      const name = snake(key);
      walk(join(path, name), join(shape, name), left[key], right[key], out);
    }
  } else {
    leaf(path, scalar(shape, a, b), scalar(shape, b, a), out);
  }
}

function walkEntries(path: string, a: Record<string, string>, b: Record<string, string>, out: FieldChange[]): void {
  for (const key of union(Object.keys(a), Object.keys(b)).sort()) leaf(`${path}[${key}]`, a[key], b[key], out);
}

function walkKeyed(
  path: string,
  shape: string,
  keyOf: (entry: Record<string, unknown>) => string,
  a: Record<string, unknown>[],
  b: Record<string, unknown>[],
  out: FieldChange[],
): void {
  const left = byKey(a, keyOf);
  const right = byKey(b, keyOf);
  for (const key of union([...left.keys()], [...right.keys()])) {
    const entryPath = `${path}[${key}]`;
    const x = left.get(key);
    const y = right.get(key);
    if (x && y) walk(entryPath, `${shape}[]`, x, y, out);
    // A whole entry added or removed reads best as one line.
    else leaf(entryPath, x && summary(shape, x), y && summary(shape, y), out);
  }
}

/** An entry as `k=v` pairs of its set fields: `type=volume source=web_data target=/data`. */
function summary(shape: string, entry: Record<string, unknown>): string {
  const fields: FieldChange[] = [];
  walk('', `${shape}[]`, {}, entry, fields);
  return fields.map((f) => `${f.path}=${f.after}`).join(' ');
}

function leaf(path: string, before: string | undefined, after: string | undefined, out: FieldChange[]): void {
  if (before === after) return;
  out.push({ path, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) });
}

/** One side of a scalar; `other` is the far side, which tells the type when this side is missing. */
function scalar(shape: string, value: unknown, other: unknown): string | undefined {
  const enumType = ENUMS[shape];
  if (enumType) return enumWord(enumType, (value ?? 0) as number);
  const v = value ?? (typeof other === 'boolean' ? false : undefined);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'bigint') {
    const leafName = shape.slice(shape.lastIndexOf('.') + 1);
    if (v === 0 || v === 0n) return ZERO_MEANS_ZERO.has(shape) ? '0' : undefined;
    if (FILE_MODES.has(shape)) return `0${Number(v).toString(8)}`;
    if (leafName.endsWith('_ns')) return duration(BigInt(v));
    if (leafName.endsWith('_bytes')) return bytes(BigInt(v));
    if (leafName === 'nano_cpus') return cpus(BigInt(v));
    return String(v);
  }
  return v === undefined ? undefined : JSON.stringify(v);
}

/** `STOP_FIRST` of UpdateConfig_Order as `stop-first`; the unspecified value is unset. */
function enumWord(type: Enum, value: number): string | undefined {
  if (!value) return undefined;
  const name = type[value];
  if (name === undefined) return String(value);
  const prefix = (type[0] ?? '').replace(/UNSPECIFIED$/, '');
  return name
    .slice(name.startsWith(prefix) ? prefix.length : 0)
    .toLowerCase()
    .replaceAll('_', '-');
}

/** Go's duration notation, as Compose files write it: `1m30s`, `500ms`. */
export function duration(ns: bigint): string {
  if (ns % 1_000_000_000n !== 0n) {
    if (ns % 1_000_000n === 0n) return `${ns / 1_000_000n}ms`;
    if (ns % 1_000n === 0n) return `${ns / 1_000n}us`;
    return `${ns}ns`;
  }
  let s = ns / 1_000_000_000n;
  const h = s / 3600n;
  s -= h * 3600n;
  const m = s / 60n;
  s -= m * 60n;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

/** A byte count in the largest binary unit that divides it: `256MiB`, `1536KiB`, `100B`. */
export function bytes(n: bigint): string {
  for (const [unit, size] of [
    ['GiB', 1024n ** 3n],
    ['MiB', 1024n ** 2n],
    ['KiB', 1024n],
  ] as const) {
    if (n % size === 0n) return `${n / size}${unit}`;
  }
  return `${n}B`;
}

/** Nano CPUs as CPUs, as `deploy.resources` writes them: `0.5`. */
function cpus(nano: bigint): string {
  const whole = nano / 1_000_000_000n;
  const frac = (nano % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

/** A list as JSON (unambiguous for commands with spaces); empty is unset. */
function list(items: unknown[]): string | undefined {
  return items.length === 0 ? undefined : JSON.stringify(items);
}

/** `KEY=VALUE` entries by key (a bare `KEY` has an empty value). */
function envMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of asList(value) as unknown as string[]) {
    const eq = entry.indexOf('=');
    if (eq < 0) out[entry] = '';
    else out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** Entries by key; a key seen twice gets `#2`, `#3`… so no entry is lost. */
function byKey(
  entries: Record<string, unknown>[],
  keyOf: (entry: Record<string, unknown>) => string,
): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const entry of entries) {
    const key = keyOf(entry);
    let unique = key;
    for (let n = 2; out.has(unique); n++) unique = `${key}#${n}`;
    out.set(unique, entry);
  }
  return out;
}

function asList(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value : [];
}

function isMessage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** The proto field name of a generated property: `memoryBytes` → `memory_bytes`. */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
