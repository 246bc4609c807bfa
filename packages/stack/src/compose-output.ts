import { Document, isMap, isScalar } from 'yaml';
import type {
  FileRef,
  HealthSettings,
  NormalizedService,
  NormalizedStack,
  ResourceSettings,
  UpdateSettings,
} from './normalize.js';
import { FLOTILLA_KEY } from './schema/flotilla.js';
import { PROBE_KEY } from './schema/healthcheck.js';
import { describeSidecar } from './sidecars.js';
import { formatBytes, formatCpus, formatDuration } from './values/index.js';

/**
 * The normalized stack in Compose form, the way `docker compose config` prints one: interpolated, merged,
 * long syntax for ports, volumes and depends_on, durations like `1m30s`, sizes in bytes, plus the defaults a
 * cluster fills in, so what is printed is exactly what would be deployed.
 */
export function toComposeObject(stack: NormalizedStack): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (stack.name) out.name = stack.name;
  out.services = mapValues(stack.services, service);
  if (Object.keys(stack.networks).length > 0) out.networks = stack.networks;
  if (Object.keys(stack.volumes).length > 0) out.volumes = stack.volumes;
  if (Object.keys(stack.configs).length > 0) out.configs = mapValues(stack.configs, fileObject);
  if (Object.keys(stack.secrets).length > 0) out.secrets = mapValues(stack.secrets, fileObject);
  Object.assign(out, stack.extensions);
  return out;
}

export function formatCompose(stack: NormalizedStack, format: 'yaml' | 'json'): string {
  const object = toComposeObject(stack);
  return format === 'json'
    ? `${JSON.stringify(object, null, 2)}\n`
    : withSidecarNotes(new Document(object, { aliasDuplicateObjects: false }), stack).toString({ lineWidth: 0 });
}

/** Above each sidecar, a comment that says how it is paired with the service it runs beside. */
function withSidecarNotes(doc: Document, stack: NormalizedStack): Document {
  const services = doc.get('services');
  if (!isMap(services)) return doc;
  for (const pair of services.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const service = stack.services[name];
    const note = service && describeSidecar(name, service);
    if (note && isScalar(pair.key)) pair.key.commentBefore = note;
  }
  return doc;
}

function mapValues<T, U>(record: Record<string, T>, fn: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
}

function fileObject(o: NormalizedStack['configs'][string]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.name) out.name = o.name;
  if (o.external) out.external = true;
  if (o.file) out.file = o.file;
  if (o.environment) out.environment = o.environment;
  // Never the value: `stack config` output is pasted into issues and CI logs.
  if (o.content !== undefined) out.content = `(${Buffer.byteLength(o.content)} bytes, not shown)`;
  if (Object.keys(o.labels).length > 0) out.labels = o.labels;
  Object.assign(out, o.extensions);
  return out;
}

function service(s: NormalizedService): Record<string, unknown> {
  const out: Record<string, unknown> = { image: s.image };
  if (s.entrypoint) out.entrypoint = s.entrypoint;
  if (s.command) out.command = s.command;
  if (Object.keys(s.environment).length > 0) out.environment = s.environment;
  if (s.ports.length > 0) out.ports = s.ports;
  if (s.expose.length > 0) out.expose = s.expose;
  if (s.network_mode === undefined) out.networks = s.networks;
  if (s.volumes.length > 0)
    out.volumes = s.volumes.map((m) =>
      m.tmpfs?.size !== undefined ? { ...m, tmpfs: { ...m.tmpfs, size: formatBytes(m.tmpfs.size) } } : m,
    );
  if (s.tmpfs.length > 0) out.tmpfs = s.tmpfs;
  if (s.healthcheck) out.healthcheck = health(s.healthcheck);
  if (Object.keys(s.labels).length > 0) out.labels = s.labels;
  for (const key of ['user', 'working_dir', 'hostname'] as const) if (s[key] !== undefined) out[key] = s[key];
  out.stop_grace_period = formatDuration(s.stop_grace_period);
  if (s.stop_signal) out.stop_signal = s.stop_signal;
  if (s.init !== undefined) out.init = s.init;
  if (s.network_mode) out.network_mode = s.network_mode;
  if (s.privileged !== undefined) out.privileged = s.privileged;
  if (s.pid) out.pid = s.pid;
  if (s.ipc) out.ipc = s.ipc;
  if (s.read_only !== undefined) out.read_only = s.read_only;
  if (Object.keys(s.ulimits).length > 0) out.ulimits = s.ulimits;
  if (Object.keys(s.sysctls).length > 0) out.sysctls = s.sysctls;
  if (s.cap_add.length > 0) out.cap_add = s.cap_add;
  if (s.cap_drop.length > 0) out.cap_drop = s.cap_drop;
  if (s.security_opt.length > 0) out.security_opt = s.security_opt;
  if (Object.keys(s.depends_on).length > 0) out.depends_on = s.depends_on;
  if (s.configs.length > 0) out.configs = s.configs.map(fileRef);
  if (s.secrets.length > 0) out.secrets = s.secrets.map(fileRef);
  if (s.sidecar && s.sidecar.volumes_from.length > 0) {
    out.volumes_from = s.sidecar.volumes_from.map((v) => (v.read_only ? `${v.service}:ro` : v.service));
  }
  if (s.logging) out.logging = s.logging;
  out.deploy = deploy(s.deploy);
  Object.assign(out, s.extensions);
  // Written as validated, durations in the canonical form.
  const flotilla: Record<string, unknown> = {};
  if (s.disconnect) flotilla.disconnect = disconnectOut(s.disconnect);
  if (s.allow_process_executor !== undefined) flotilla.allow_process_executor = s.allow_process_executor;
  if (s.deploy.job) Object.assign(flotilla, s.deploy.job);
  if (Object.keys(flotilla).length > 0) out[FLOTILLA_KEY] = flotilla;
  return out;
}

function disconnectOut(d: NonNullable<NormalizedService['disconnect']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.stop_after !== undefined) out.stop_after = d.stop_after === 'never' ? 'never' : formatDuration(d.stop_after);
  if (d.replace !== undefined) out.replace = d.replace;
  return out;
}

function fileRef(r: FileRef): Record<string, unknown> {
  return r.mode === undefined ? { ...r } : { ...r, mode: `0${r.mode.toString(8)}` };
}

function health(h: HealthSettings): Record<string, unknown> {
  const out: Record<string, unknown> = { test: h.test };
  if (h.interval !== undefined) out.interval = formatDuration(h.interval);
  if (h.timeout !== undefined) out.timeout = formatDuration(h.timeout);
  if (h.retries !== undefined) out.retries = h.retries;
  if (h.start_period !== undefined) out.start_period = formatDuration(h.start_period);
  if (h.start_interval !== undefined) out.start_interval = formatDuration(h.start_interval);
  if (h.probe) out[PROBE_KEY] = h.probe;
  return out;
}

function resources(r: ResourceSettings): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (r.cpus !== undefined) out.cpus = formatCpus(r.cpus);
  if (r.memory !== undefined) out.memory = formatBytes(r.memory);
  if (r.pids !== undefined) out.pids = r.pids;
  return Object.keys(out).length > 0 ? out : undefined;
}

function update(u: UpdateSettings): Record<string, unknown> {
  return {
    parallelism: u.parallelism,
    delay: formatDuration(u.delay),
    failure_action: u.failure_action,
    monitor: formatDuration(u.monitor),
    max_failure_ratio: u.max_failure_ratio,
    order: u.order,
  };
}

function deploy(d: NormalizedService['deploy']): Record<string, unknown> {
  const out: Record<string, unknown> = { mode: d.mode };
  if (d.mode === 'replicated' || d.mode === 'replicated-job') out.replicas = d.replicas;
  out.endpoint_mode = d.endpoint_mode;
  if (Object.keys(d.labels).length > 0) out.labels = d.labels;
  const p = d.placement;
  if (p.constraints.length > 0 || p.preferences.length > 0 || p.max_replicas_per_node > 0) {
    out.placement = {
      ...(p.constraints.length > 0
        ? { constraints: p.constraints.map((c) => `${c.field}${c.operator}${c.value}`) }
        : {}),
      ...(p.preferences.length > 0 ? { preferences: p.preferences } : {}),
      ...(p.max_replicas_per_node > 0 ? { max_replicas_per_node: p.max_replicas_per_node } : {}),
    };
  }
  const limits = resources(d.resources.limits);
  const reservations = resources(d.resources.reservations);
  if (limits || reservations)
    out.resources = { ...(limits ? { limits } : {}), ...(reservations ? { reservations } : {}) };
  out.restart_policy = {
    condition: d.restart_policy.condition,
    delay: formatDuration(d.restart_policy.delay),
    max_attempts: d.restart_policy.max_attempts,
    window: formatDuration(d.restart_policy.window),
  };
  out.update_config = update(d.update_config);
  out.rollback_config = update(d.rollback_config);
  return out;
}
