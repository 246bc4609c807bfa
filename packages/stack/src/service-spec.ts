import {
  Constraint_Operator,
  Dependency_Condition,
  type Disconnect,
  EndpointSpec_Mode,
  type FileObjectSpec,
  type FileReference,
  type Mount,
  Mount_Type,
  type NetworkSpec,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  qualify,
  RestartPolicy_Condition,
  ServiceMode,
  type ServiceSpec,
  type StackSpec,
  type UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  type VolumeSpec,
} from '@flotilla/api';
import type { NormalizedService, NormalizedStack, ResourceSettings, UpdateSettings } from './normalize.js';
import type { MountModel } from './schema/mounts.js';
import { sidecarMounts } from './sidecars.js';
import { parseTmpfs } from './values/index.js';

/** Where the content of a config or secret comes from, resolved by the caller (it is I/O, this is pure). */
export type ObjectData = (kind: 'configs' | 'secrets', name: string) => Buffer;

/**
 * The canonical API objects for a normalized stack, named as `docker stack deploy` names them
 * (`<stack>_<service>`); networks, volumes, configs and secrets are qualified the same way unless external or
 * given an explicit `name:`.
 */
export function toStackSpec(stack: NormalizedStack, name: string, data: ObjectData = () => Buffer.alloc(0)): StackSpec {
  const networkName = (n: string) => objectName(name, n, stack.networks[n]);
  const volumeName = (v: string) => objectName(name, v, stack.volumes[v]);
  const configName = (c: string) => objectName(name, c, stack.configs[c]);
  const secretName = (s: string) => objectName(name, s, stack.secrets[s]);
  const volumeDriver = (v: string) => {
    const vol = stack.volumes[v];
    return vol && !vol.external ? { driver: vol.driver, opts: strings(vol.driver_opts) } : undefined;
  };
  const names = { network: networkName, volume: volumeName, config: configName, secret: secretName, volumeDriver };
  return {
    name,
    services: Object.entries(stack.services).map(([svc, s]) => serviceSpec(name, svc, s, names, stack.services)),
    networks: Object.entries(stack.networks).map(
      ([n, net]): NetworkSpec => ({
        annotations: { name: networkName(n), labels: stackLabels(name, net.labels) },
        driver: net.driver,
        driverOpts: strings(net.driver_opts),
        internal: net.internal ?? false,
        attachable: net.attachable ?? false,
        enableIpv6: net.enable_ipv6 ?? false,
        external: net.external,
        ipam: (net.ipam?.config ?? []).map((c) => ({
          subnet: c.subnet ?? '',
          ipRange: c.ip_range ?? '',
          gateway: c.gateway ?? '',
        })),
      }),
    ),
    volumes: Object.entries(stack.volumes).map(
      ([v, vol]): VolumeSpec => ({
        annotations: { name: volumeName(v), labels: stackLabels(name, vol.labels) },
        driver: vol.driver,
        driverOpts: strings(vol.driver_opts),
        external: vol.external,
      }),
    ),
    configs: Object.entries(stack.configs).map(([c, o]) =>
      fileObject(name, configName(c), o, o.external ? undefined : data('configs', c)),
    ),
    secrets: Object.entries(stack.secrets).map(([s, o]) =>
      fileObject(name, secretName(s), o, o.external ? undefined : data('secrets', s)),
    ),
  };
}

interface Names {
  network(n: string): string;
  volume(v: string): string;
  config(c: string): string;
  secret(s: string): string;
  /** The stack volume's driver and driver_opts (undefined: external, the node's own). */
  volumeDriver?(v: string): { driver: string; opts: Record<string, string> } | undefined;
}

function objectName(
  stack: string,
  key: string,
  object: { name?: string | undefined; external?: boolean } | undefined,
): string {
  if (object?.name) return object.name;
  return object?.external ? key : qualify(stack, key);
}

function stackLabels(stack: string, labels: Record<string, string | null> | undefined): Record<string, string> {
  return { ...strings(labels), 'com.docker.stack.namespace': stack };
}

function strings(map: Record<string, string | null> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, v ?? '']));
}

function fileObject(
  stack: string,
  name: string,
  o: NormalizedStack['configs'][string],
  data: Buffer | undefined,
): FileObjectSpec {
  return {
    annotations: { name, labels: stackLabels(stack, o.labels) },
    external: o.external,
    data: data ?? Buffer.alloc(0),
  };
}

const SERVICE_MODES: Record<NormalizedService['deploy']['mode'], ServiceMode> = {
  replicated: ServiceMode.SERVICE_MODE_REPLICATED,
  global: ServiceMode.SERVICE_MODE_GLOBAL,
  'replicated-job': ServiceMode.SERVICE_MODE_REPLICATED_JOB,
  'global-job': ServiceMode.SERVICE_MODE_GLOBAL_JOB,
};

function serviceSpec(
  stack: string,
  svc: string,
  s: NormalizedService,
  names: Names,
  services: Record<string, NormalizedService>,
): ServiceSpec {
  const d = s.deploy;
  // A sidecar of a host-network service shares the node's network too.
  const hostNetwork = !!s.sidecar?.share_network && services[s.sidecar.service]?.network_mode === 'host';
  return {
    annotations: { name: qualify(stack, svc), labels: stackLabels(stack, d.labels) },
    stack,
    mode: SERVICE_MODES[d.mode],
    replicas: BigInt(d.replicas),
    ...(d.job
      ? { job: { maxConcurrent: BigInt(d.job.max_concurrent), totalCompletions: BigInt(d.job.total_completions) } }
      : {}),
    container: {
      image: s.image,
      entrypoint: s.entrypoint ?? [],
      entrypointSet: s.entrypoint !== undefined,
      command: s.command ?? [],
      commandSet: s.command !== undefined,
      env: Object.entries(s.environment).map(([k, v]) => `${k}=${v}`),
      user: s.user ?? '',
      workingDir: s.working_dir ?? '',
      hostname: s.hostname ?? '',
      labels: s.labels,
      mounts: [...sidecarMounts(s, services).map((m) => mount(m, names)), ...s.tmpfs.map(tmpfsMount)],
      stopGracePeriodNs: s.stop_grace_period,
      stopSignal: s.stop_signal ?? '',
      init: s.init ?? false,
      hostNetwork: s.network_mode === 'host' || hostNetwork,
      readOnly: s.read_only ?? false,
      healthcheck: s.healthcheck
        ? {
            test: s.healthcheck.test,
            intervalNs: s.healthcheck.interval ?? 0n,
            timeoutNs: s.healthcheck.timeout ?? 0n,
            retries: s.healthcheck.retries ?? 0,
            startPeriodNs: s.healthcheck.start_period ?? 0n,
            startIntervalNs: s.healthcheck.start_interval ?? 0n,
            probe: s.healthcheck.probe,
          }
        : undefined,
      ulimits: Object.entries(s.ulimits).map(([n, u]) => ({ name: n, soft: BigInt(u.soft), hard: BigInt(u.hard) })),
      sysctls: s.sysctls,
      capAdd: s.cap_add,
      capDrop: s.cap_drop,
      seccompProfile: s.seccomp,
      noNewPrivileges: s.no_new_privileges,
      privileged: s.privileged ?? false,
      pidHost: s.pid === 'host',
      ipcHost: s.ipc === 'host',
      configs: s.configs.map((r) => fileRef(r, names.config(r.source))),
      secrets: s.secrets.map((r) => fileRef(r, names.secret(r.source))),
    },
    placement: {
      constraints: d.placement.constraints.map((c) => ({
        field: c.field,
        operator: c.operator === '==' ? Constraint_Operator.OPERATOR_EQ : Constraint_Operator.OPERATOR_NEQ,
        value: c.value,
      })),
      spread: d.placement.preferences.map((p) => p.spread),
      maxReplicasPerNode: BigInt(d.placement.max_replicas_per_node),
      platforms: [],
      allowProcessExecutor: s.allow_process_executor ?? false,
    },
    resources: { limits: resourceValues(d.resources.limits), reservations: resourceValues(d.resources.reservations) },
    restartPolicy: {
      condition: RESTART[d.restart_policy.condition],
      delayNs: d.restart_policy.delay,
      maxAttempts: BigInt(d.restart_policy.max_attempts),
      windowNs: d.restart_policy.window,
    },
    updateConfig: updateConfig(d.update_config),
    rollbackConfig: updateConfig(d.rollback_config),
    endpoint: {
      mode: d.endpoint_mode === 'dnsrr' ? EndpointSpec_Mode.MODE_DNSRR : EndpointSpec_Mode.MODE_VIP,
      ports: s.ports.map((p) => ({
        name: p.name ?? '',
        protocol: PROTOCOL[p.protocol],
        targetPort: p.target,
        publishedPort: p.published ?? 0,
        publishMode:
          p.mode === 'host' ? PortConfig_PublishMode.PUBLISH_MODE_HOST : PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
        hostIp: p.host_ip ?? '',
      })),
    },
    networks: Object.entries(s.networks).map(([n, settings]) => ({
      target: names.network(n),
      aliases: [svc, ...(settings?.aliases ?? [])],
      ipv4Address: settings?.ipv4_address ?? '',
      ipv6Address: settings?.ipv6_address ?? '',
    })),
    dependsOn: Object.entries(s.depends_on).map(([dep, settings]) => ({
      service: qualify(stack, dep),
      condition: DEPENDENCY[settings.condition],
      required: settings.required,
    })),
    logDriver: s.logging ? { name: s.logging.driver ?? '', options: s.logging.options } : undefined,
    disconnect: s.disconnect ? disconnectSpec(s.disconnect) : undefined,
    sidecar: s.sidecar
      ? {
          service: qualify(stack, s.sidecar.service),
          shareNetwork: s.sidecar.share_network,
          volumesFrom: s.sidecar.volumes_from.map((v) => ({
            service: qualify(stack, v.service),
            readOnly: v.read_only,
          })),
        }
      : undefined,
  };
}

const RESTART = {
  none: RestartPolicy_Condition.CONDITION_NONE,
  'on-failure': RestartPolicy_Condition.CONDITION_ON_FAILURE,
  any: RestartPolicy_Condition.CONDITION_ANY,
} as const;

const PROTOCOL = {
  tcp: PortConfig_Protocol.PROTOCOL_TCP,
  udp: PortConfig_Protocol.PROTOCOL_UDP,
  sctp: PortConfig_Protocol.PROTOCOL_SCTP,
} as const;

const DEPENDENCY = {
  service_started: Dependency_Condition.CONDITION_SERVICE_STARTED,
  service_healthy: Dependency_Condition.CONDITION_SERVICE_HEALTHY,
  service_completed_successfully: Dependency_Condition.CONDITION_SERVICE_COMPLETED_SUCCESSFULLY,
} as const;

function updateConfig(u: UpdateSettings): UpdateConfig {
  return {
    parallelism: BigInt(u.parallelism),
    delayNs: u.delay,
    failureAction:
      u.failure_action === 'continue'
        ? UpdateConfig_FailureAction.FAILURE_ACTION_CONTINUE
        : u.failure_action === 'rollback'
          ? UpdateConfig_FailureAction.FAILURE_ACTION_ROLLBACK
          : UpdateConfig_FailureAction.FAILURE_ACTION_PAUSE,
    monitorNs: u.monitor,
    maxFailureRatio: u.max_failure_ratio,
    order: u.order === 'start-first' ? UpdateConfig_Order.ORDER_START_FIRST : UpdateConfig_Order.ORDER_STOP_FIRST,
  };
}

function resourceValues(r: ResourceSettings) {
  return { nanoCpus: r.cpus ?? 0n, memoryBytes: r.memory ?? 0n, pids: BigInt(r.pids ?? 0) };
}

/** The version (objectId) is the managers' to set at deploy. */
function fileRef(r: NormalizedService['configs'][number], source: string): FileReference {
  return { source, target: r.target, uid: r.uid ?? '', gid: r.gid ?? '', mode: r.mode ?? 0o444, objectId: '' };
}

function mount(m: MountModel, names: Names): Mount {
  const type =
    m.type === 'bind' ? Mount_Type.TYPE_BIND : m.type === 'tmpfs' ? Mount_Type.TYPE_TMPFS : Mount_Type.TYPE_VOLUME;
  const driver = m.type === 'volume' && m.source ? names.volumeDriver?.(m.source) : undefined;
  return {
    type,
    source: m.type === 'volume' && m.source ? names.volume(m.source) : (m.source ?? ''),
    target: m.target,
    readOnly: m.read_only ?? false,
    bindPropagation: m.bind?.propagation ?? '',
    bindCreateHostPath: m.bind?.create_host_path ?? false,
    volumeNocopy: m.volume?.nocopy ?? false,
    volumeSubpath: m.volume?.subpath ?? '',
    tmpfsSizeBytes: m.tmpfs?.size ?? 0n,
    tmpfsMode: m.tmpfs?.mode ?? 0,
    volumeDriver: driver?.driver ?? '',
    volumeDriverOpts: driver?.opts ?? {},
  };
}

/** A `tmpfs:` entry (validated when the file was read): its size and mode as the long syntax gives them. */
function tmpfsMount(spec: string): Mount {
  const { target, size, mode, read_only } = parseTmpfs(spec);
  const tmpfs = { ...(size !== undefined ? { size } : {}), ...(mode !== undefined ? { mode } : {}) };
  return mount(
    { type: 'tmpfs', target, tmpfs, ...(read_only !== undefined ? { read_only } : {}) },
    { network: String, volume: String, config: String, secret: String },
  );
}

/** `x-flotilla: disconnect:` as the service spec carries it (durations in milliseconds). */
function disconnectSpec(d: NonNullable<NormalizedService['disconnect']>): Disconnect {
  const stopAfter = d.stop_after;
  return {
    stopAfterMs: stopAfter === undefined || stopAfter === 'never' ? 0n : stopAfter / 1_000_000n,
    neverStop: stopAfter === 'never',
    ...(d.replace === undefined ? {} : { replace: d.replace }),
  };
}
