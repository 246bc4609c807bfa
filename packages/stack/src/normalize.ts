import path from 'node:path';
import { DEFAULTS } from './defaults.js';
import type { Lookup } from './interpolate.js';
import type { DeployModel } from './schema/deploy.js';
import { PROBE_KEY, type ProbeModel } from './schema/healthcheck.js';
import type { MountModel } from './schema/mounts.js';
import type { RestartModel, ServiceModel } from './schema/service.js';
import type { FileObjectModel, NetworkModel, StackModel, VolumeModel } from './schema/stack.js';
import { resolveSidecars, type SidecarSettings, sidecarOf } from './sidecars.js';
import type { Constraint, PortMapping, SecurityOpt } from './values/index.js';

export type RestartCondition = 'none' | 'on-failure' | 'any';
export type FailureAction = 'continue' | 'rollback' | 'pause';
export type UpdateOrder = 'start-first' | 'stop-first';
export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface UpdateSettings {
  parallelism: number;
  delay: bigint;
  failure_action: FailureAction;
  monitor: bigint;
  max_failure_ratio: number;
  order: UpdateOrder;
}

export interface ResourceSettings {
  cpus?: bigint;
  memory?: bigint;
  pids?: number;
}

export interface FileRef {
  source: string;
  target: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface HealthSettings {
  test: string[];
  interval?: bigint;
  timeout?: bigint;
  retries?: number;
  start_period?: bigint;
  start_interval?: bigint;
  /** x-flotilla-probe: checked by the agent instead of running `test` in the container. */
  probe?: ProbeModel;
}

export interface NormalizedService {
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: PortMapping[];
  expose: string[];
  networks: Record<string, { aliases?: string[]; ipv4_address?: string; ipv6_address?: string } | null>;
  volumes: MountModel[];
  tmpfs: string[];
  healthcheck?: HealthSettings;
  labels: Record<string, string>;
  user?: string;
  working_dir?: string;
  hostname?: string;
  stop_grace_period: bigint;
  stop_signal?: string;
  init?: boolean;
  /**
   * `host`: the task shares the node's network; `service:NAME`: the network of the task of NAME it runs beside
   * (other modes are warned about and ignored).
   */
  network_mode?: 'host' | `service:${string}`;
  /** `network_mode: service:` / `volumes_from:`: the service each task runs beside, and what it shares of it. */
  sidecar?: SidecarSettings;
  /** Admitted only under the privileged security profile: every capability, no seccomp, no masked paths. */
  privileged?: boolean;
  /** `host` only: the task shares the node's PID or IPC namespace (other modes are warned about and ignored). */
  pid?: 'host';
  ipc?: 'host';
  read_only?: boolean;
  ulimits: Record<string, { soft: number; hard: number }>;
  sysctls: Record<string, string>;
  cap_add: string[];
  cap_drop: string[];
  /** As written (`stack config` shows it); what it asks for is in seccomp and no_new_privileges. */
  security_opt: string[];
  /** '' for the node's default profile, 'unconfined', or the JSON of the profile file named. */
  seccomp: string;
  no_new_privileges: boolean;
  depends_on: Record<string, { condition: DependencyCondition; required: boolean; restart?: boolean }>;
  configs: FileRef[];
  secrets: FileRef[];
  logging?: { driver?: string; options: Record<string, string> };
  /** `x-flotilla: disconnect:`, as written (absent: the cluster's self-fence timeout, tasks replaced). */
  disconnect?: { stop_after?: bigint | 'never'; replace?: boolean };
  /** `x-flotilla: allow_process_executor:` as written (absent: nodes that run plain processes are refused). */
  allow_process_executor?: boolean;
  deploy: {
    mode: 'replicated' | 'global' | 'replicated-job' | 'global-job';
    replicas: number;
    /** Replicated jobs: `x-flotilla: max_concurrent/total_completions`, defaulted to the replicas. */
    job?: { max_concurrent: number; total_completions: number };
    endpoint_mode: 'vip' | 'dnsrr';
    labels: Record<string, string>;
    placement: { constraints: Constraint[]; preferences: { spread: string }[]; max_replicas_per_node: number };
    resources: { limits: ResourceSettings; reservations: ResourceSettings };
    restart_policy: { condition: RestartCondition; delay: bigint; max_attempts: number; window: bigint };
    update_config: UpdateSettings;
    rollback_config: UpdateSettings;
  };
  /** `x-` keys of the service, kept for Flotilla's own settings (x-flotilla). */
  extensions: Record<string, unknown>;
}

export interface NormalizedFileObject {
  name?: string;
  external: boolean;
  /** Absolute path of the file the content comes from. */
  file?: string;
  environment?: string;
  content?: string;
  labels: Record<string, string>;
  /** `x-` keys of the object, kept as written, as Compose keeps them. */
  extensions: Record<string, unknown>;
}

export interface NormalizedStack {
  name?: string;
  services: Record<string, NormalizedService>;
  networks: Record<string, NetworkModel & { driver: string; external: boolean }>;
  volumes: Record<string, VolumeModel & { driver: string; external: boolean }>;
  configs: Record<string, NormalizedFileObject>;
  secrets: Record<string, NormalizedFileObject>;
  /** Top-level `x-` keys, kept as written (after interpolation) for Flotilla settings such as x-flotilla. */
  extensions: Record<string, unknown>;
}

export interface NormalizeContext {
  /** Directory relative paths are resolved against: the first stack file's. */
  projectDir: string;
  /** Variables for `environment` entries written without a value. */
  lookup: Lookup;
  /** Contents of the env_file files, by absolute path (absent: optional file that does not exist). */
  envFiles: Map<string, Map<string, string>>;
  /** Contents of the seccomp profiles `security_opt` names, by absolute path. */
  seccompFiles?: Map<string, string>;
  /** Labels read from the `label_file` files, by absolute path (see label-files.ts). */
  labelFiles?: Map<string, Map<string, string>>;
  serviceExtensions: Record<string, Record<string, unknown>>;
  extensions: Record<string, unknown>;
}

/** Fills swarm's defaults and resolves what the file leaves implicit; the input is already validated. */
export function normalizeStack(model: StackModel, ctx: NormalizeContext): NormalizedStack {
  const services: Record<string, NormalizedService> = {};
  for (const [name, service] of Object.entries(model.services ?? {})) {
    services[name] = normalizeService(service, ctx, ctx.serviceExtensions[name] ?? {});
  }
  resolveSidecars(services);
  const networks: NormalizedStack['networks'] = {};
  for (const [name, net] of Object.entries(model.networks ?? {})) {
    networks[name] = { ...net, driver: net?.driver ?? DEFAULTS.networkDriver, external: net?.external ?? false };
  }
  const usesDefault = Object.values(services).some((s) => 'default' in s.networks);
  if (usesDefault && !networks.default) networks.default = { driver: DEFAULTS.networkDriver, external: false };
  const volumes: NormalizedStack['volumes'] = {};
  for (const [name, vol] of Object.entries(model.volumes ?? {})) {
    volumes[name] = { ...vol, driver: vol?.driver ?? DEFAULTS.volumeDriver, external: vol?.external ?? false };
  }
  return {
    ...(model.name ? { name: model.name } : {}),
    services,
    networks,
    volumes,
    configs: fileObjects(model.configs, ctx),
    secrets: fileObjects(model.secrets, ctx),
    extensions: ctx.extensions,
  };
}

function fileObjects(
  objects: Record<string, FileObjectModel | null> | undefined,
  ctx: NormalizeContext,
): Record<string, NormalizedFileObject> {
  const out: Record<string, NormalizedFileObject> = {};
  for (const [name, o] of Object.entries(objects ?? {})) {
    out[name] = {
      ...(o?.name ? { name: o.name } : {}),
      external: o?.external ?? false,
      ...(o?.file ? { file: path.resolve(ctx.projectDir, o.file) } : {}),
      ...(o?.environment ? { environment: o.environment } : {}),
      ...(o?.content !== undefined ? { content: o.content } : {}),
      labels: strings(o?.labels),
      extensions: Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => k.startsWith('x-'))),
    };
  }
  return out;
}

function strings(map: Record<string, string | null> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) out[k] = v ?? '';
  return out;
}

function normalizeService(s: ServiceModel, ctx: NormalizeContext, extensions: Record<string, unknown>) {
  const d = s.deploy ?? {};
  const update = (u: typeof d.update_config): UpdateSettings => ({
    parallelism: u?.parallelism ?? DEFAULTS.updateConfig.parallelism,
    delay: u?.delay ?? DEFAULTS.updateConfig.delayNs,
    failure_action: u?.failure_action ?? DEFAULTS.updateConfig.failureAction,
    monitor: u?.monitor ?? DEFAULTS.updateConfig.monitorNs,
    max_failure_ratio: u?.max_failure_ratio ?? DEFAULTS.updateConfig.maxFailureRatio,
    order: u?.order ?? DEFAULTS.updateConfig.order,
  });
  // deploy.restart_policy wins over restart: as a whole, as in docker stack deploy (checks.ts warns).
  const restartPolicy = d.restart_policy ?? restartToPolicy(s.restart) ?? {};
  const out: NormalizedService = {
    image: s.image ?? '',
    environment: environment(s, ctx),
    ports: s.ports ?? [],
    expose: s.expose ?? [],
    // A host-network task joins no stack network.
    networks:
      s.network_mode === 'host' || s.network_mode?.startsWith('service:')
        ? {}
        : s.networks && Object.keys(s.networks).length > 0
          ? s.networks
          : { default: null },
    volumes: (s.volumes ?? []).map((m) => resolveMount(m, ctx.projectDir)),
    tmpfs: s.tmpfs ?? [],
    labels: labels(s, ctx),
    stop_grace_period: s.stop_grace_period ?? DEFAULTS.stopGracePeriodNs,
    ulimits: s.ulimits ?? {},
    sysctls: strings(s.sysctls),
    cap_add: s.cap_add ?? [],
    cap_drop: s.cap_drop ?? [],
    ...securityOpts(s.security_opt ?? [], ctx),
    depends_on: (s.depends_on ?? {}) as NormalizedService['depends_on'],
    configs: (s.configs ?? []).map((r) => ({ ...r, target: r.target ?? `/${r.source}` })),
    secrets: (s.secrets ?? []).map((r) => ({ ...r, target: secretTarget(r.source, r.target) })),
    deploy: {
      mode: d.mode ?? 'replicated',
      replicas: d.mode === 'global' || d.mode === 'global-job' ? 0 : (d.replicas ?? DEFAULTS.replicas),
      ...jobSettings(d.mode, d.replicas ?? DEFAULTS.replicas, s['x-flotilla']),
      endpoint_mode: d.endpoint_mode ?? 'vip',
      labels: strings(d.labels),
      placement: {
        constraints: d.placement?.constraints ?? [],
        preferences: d.placement?.preferences ?? [],
        max_replicas_per_node: d.placement?.max_replicas_per_node ?? 0,
      },
      resources: {
        limits: resources(d.resources?.limits),
        reservations: resources(d.resources?.reservations),
      },
      restart_policy: {
        // Swarm retries a failed job task, and never one that succeeded.
        condition: restartPolicy.condition ?? (isJob(d.mode) ? 'on-failure' : DEFAULTS.restartPolicy.condition),
        delay: restartPolicy.delay ?? DEFAULTS.restartPolicy.delayNs,
        max_attempts: restartPolicy.max_attempts ?? DEFAULTS.restartPolicy.maxAttempts,
        window: restartPolicy.window ?? DEFAULTS.restartPolicy.windowNs,
      },
      update_config: update(d.update_config),
      rollback_config: update(d.rollback_config),
    },
    extensions,
  };
  const disconnect = s['x-flotilla']?.disconnect;
  if (disconnect && Object.keys(disconnect).length > 0) out.disconnect = disconnect;
  const allowProcess = s['x-flotilla']?.allow_process_executor;
  if (allowProcess !== undefined) out.allow_process_executor = allowProcess;
  if (s.command) out.command = s.command;
  if (s.entrypoint) out.entrypoint = s.entrypoint;
  if (s.user !== undefined) out.user = s.user;
  if (s.working_dir !== undefined) out.working_dir = s.working_dir;
  if (s.hostname !== undefined) out.hostname = s.hostname;
  if (s.stop_signal !== undefined) out.stop_signal = s.stop_signal;
  if (s.init !== undefined) out.init = s.init;
  if (s.network_mode === 'host') out.network_mode = 'host';
  const sidecar = sidecarOf(s);
  if (sidecar) {
    out.sidecar = sidecar;
    if (sidecar.share_network) out.network_mode = `service:${sidecar.service}`;
  }
  if (s.privileged !== undefined) out.privileged = s.privileged;
  if (s.pid === 'host') out.pid = 'host';
  if (s.ipc === 'host') out.ipc = 'host';
  if (s.read_only !== undefined) out.read_only = s.read_only;
  const health = healthcheck(s.healthcheck);
  if (health) out.healthcheck = health;
  if (s.logging)
    out.logging = { ...(s.logging.driver ? { driver: s.logging.driver } : {}), options: strings(s.logging.options) };
  return out;
}

function resources(r: { cpus?: bigint; memory?: bigint; pids?: number } | undefined): ResourceSettings {
  const out: ResourceSettings = {};
  if (r?.cpus !== undefined) out.cpus = r.cpus;
  if (r?.memory !== undefined) out.memory = r.memory;
  if (r?.pids !== undefined) out.pids = r.pids;
  return out;
}

function healthcheck(h: ServiceModel['healthcheck']): HealthSettings | undefined {
  if (!h) return undefined;
  if (h.disable) return { test: ['NONE'] };
  const out: HealthSettings = { test: h.test ?? [] };
  if (h.interval !== undefined) out.interval = h.interval;
  if (h.timeout !== undefined) out.timeout = h.timeout;
  if (h.retries !== undefined) out.retries = h.retries;
  if (h.start_period !== undefined) out.start_period = h.start_period;
  if (h.start_interval !== undefined) out.start_interval = h.start_interval;
  const probe = h[PROBE_KEY];
  if (probe) out.probe = probe;
  return out;
}

function secretTarget(source: string, target: string | undefined): string {
  if (!target) return `${DEFAULTS.secretsDir}/${source}`;
  return target.startsWith('/') ? target : `${DEFAULTS.secretsDir}/${target}`;
}

function resolveMount(m: MountModel, projectDir: string): MountModel {
  if (m.type !== 'bind' || !m.source) return m;
  const source = m.source.startsWith('~')
    ? path.join(process.env.HOME ?? '/', m.source.slice(1))
    : path.resolve(projectDir, m.source);
  return { ...m, source };
}

/**
 * `restart:` as docker's stack loader maps it onto a restart policy: always and unless-stopped → any,
 * on-failure[:N] → on-failure with at most N attempts. `no` → none, where docker leaves swarm's default (any):
 * a task the file says not to restart is not restarted. The value is validated by the schema.
 */
function restartToPolicy(restart: RestartModel | undefined): DeployModel['restart_policy'] {
  if (restart === undefined) return undefined;
  if (restart.policy === 'no') return { condition: 'none' };
  if (restart.policy === 'on-failure') {
    return restart.max_attempts === undefined
      ? { condition: 'on-failure' }
      : { condition: 'on-failure', max_attempts: restart.max_attempts };
  }
  return { condition: 'any' };
}

/** label_file entries first, in order, then labels: (which wins), as Compose does. */
function labels(s: ServiceModel, ctx: NormalizeContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of s.label_file ?? []) {
    for (const [k, v] of ctx.labelFiles?.get(path.resolve(ctx.projectDir, file)) ?? []) out[k] = v;
  }
  return { ...out, ...strings(s.labels) };
}

/** env_file entries first, then environment: (which wins), as Compose does; bare names come from the shell. */
function environment(s: ServiceModel, ctx: NormalizeContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of s.env_file ?? []) {
    const values = ctx.envFiles.get(path.resolve(ctx.projectDir, file.path));
    for (const [k, v] of values ?? []) out[k] = v;
  }
  for (const [key, value] of Object.entries(s.environment ?? {})) {
    const resolved = value ?? ctx.lookup(key);
    if (resolved === undefined) delete out[key];
    else out[key] = resolved;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** security_opt as written, and what it asks for; a later entry of the same kind wins, as in Docker. */
function securityOpts(
  opts: SecurityOpt[],
  ctx: NormalizeContext,
): Pick<NormalizedService, 'security_opt' | 'seccomp' | 'no_new_privileges'> {
  let seccomp = '';
  let noNewPrivileges = false;
  for (const opt of opts) {
    if (opt.kind === 'no-new-privileges') noNewPrivileges = opt.value;
    if (opt.kind === 'seccomp') {
      seccomp =
        opt.value === 'unconfined'
          ? 'unconfined'
          : (ctx.seccompFiles?.get(path.resolve(ctx.projectDir, opt.value)) ?? '');
    }
  }
  return { security_opt: opts.map((o) => o.raw), seccomp, no_new_privileges: noNewPrivileges };
}

function isJob(mode: string | undefined): boolean {
  return mode === 'replicated-job' || mode === 'global-job';
}

/** A replicated job's parallelism and completions (Docker's defaults: both the replicas). */
function jobSettings(
  mode: string | undefined,
  replicas: number,
  flotilla: { max_concurrent?: number; total_completions?: number } | undefined,
): { job?: { max_concurrent: number; total_completions: number } } {
  if (mode !== 'replicated-job') return {};
  return {
    job: {
      max_concurrent: flotilla?.max_concurrent ?? replicas,
      total_completions: flotilla?.total_completions ?? replicas,
    },
  };
}
