import { Option } from '@commander-js/extra-typings';
import {
  Constraint_Operator,
  type ContainerSpec,
  Dependency_Condition,
  type EndpointSpec,
  EndpointSpec_Mode,
  type FileReference,
  type HealthCheck,
  type ManagerView,
  type Mount,
  Mount_Type,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  type PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  type ResourceValues,
  RestartPolicy_Condition,
  Service,
  ServiceMode,
  type ServiceSpec,
  type UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  type UpdateStatus,
  UpdateStatus_State,
} from '@flotilla/api';
import { usageError } from '../exit-codes.js';
import { enumWord, rfc3339 } from './docker-json.js';
import { compileTemplate, isTemplate } from './template.js';

/*
 * `service inspect` and `node inspect` in the shape `docker service inspect` and `docker node inspect` print:
 * docker's field names and nesting, durations as integer nanoseconds and times in RFC 3339 (as docker's API gives
 * them), enum words in lower case as docker's API spells them (`on-failure`, `stop-first`, `rollback_started`).
 * What Flotilla has and docker lacks is kept, under a key of its own named `Flotilla` (in the spec, the service
 * and the node), so that nothing the API says is lost and nothing of Flotilla's sits under a docker name.
 * Empty lists and strings are left out, as docker's `omitempty` leaves them out.
 */

type Json = { [key: string]: unknown };

/** The object without its undefined values, empty strings, empty lists and empty objects of `emptyObjects`. */
function compact<T extends Json>(o: T, emptyObjects: readonly string[] = []): T {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    if (emptyObjects.includes(k) && typeof v === 'object' && v !== null && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out as T;
}

/** A count or a size as a JSON number (bigint has no JSON form); nanosecond durations stay exact up to ~104 days. */
const num = (v: bigint | number | undefined): number => Number(v ?? 0);
/** A value docker leaves out when it is zero. */
const nonZero = (v: bigint | number | undefined): number | undefined => (num(v) === 0 ? undefined : num(v));
/** Milliseconds as docker's nanoseconds. */
const msToNs = (ms: bigint | undefined): number => Number(ms ?? 0n) * 1_000_000;

const names = (e: object) => e as unknown as Record<number, string>;

/** Spec.Mode: one key naming the mode, as docker's; a job's counts resolved (Flotilla's 0 means the replicas). */
export function dockerMode(spec: ServiceSpec): Json {
  const replicas = num(spec.replicas);
  switch (spec.mode) {
    case ServiceMode.SERVICE_MODE_GLOBAL:
      return { Global: {} };
    case ServiceMode.SERVICE_MODE_GLOBAL_JOB:
      return { GlobalJob: {} };
    case ServiceMode.SERVICE_MODE_REPLICATED_JOB:
      return {
        ReplicatedJob: {
          MaxConcurrent: num(spec.job?.maxConcurrent) || replicas,
          TotalCompletions: num(spec.job?.totalCompletions) || replicas,
        },
      };
    default:
      return { Replicated: { Replicas: replicas } };
  }
}

/** A port as docker's EndpointPortConfig: tcp and ingress when the spec left them unsaid, as docker defaults. */
export function dockerPort(p: PortConfig): Json {
  return compact({
    Name: p.name,
    Protocol: enumWord(names(PortConfig_Protocol), p.protocol, 'PROTOCOL_') || 'tcp',
    TargetPort: p.targetPort,
    PublishedPort: nonZero(p.publishedPort),
    PublishMode: enumWord(names(PortConfig_PublishMode), p.publishMode, 'PUBLISH_MODE_') || 'ingress',
  });
}

function dockerEndpointSpec(e: EndpointSpec | undefined): Json {
  return compact({
    Mode: enumWord(names(EndpointSpec_Mode), e?.mode, 'MODE_') || 'vip',
    Ports: (e?.ports ?? []).map(dockerPort),
  });
}

/** UpdateConfig and RollbackConfig: `pause`, `continue`, `rollback`; `stop-first`, `start-first`. */
export function dockerUpdateConfig(u: UpdateConfig | undefined): Json | undefined {
  if (!u) return undefined;
  return compact({
    Parallelism: num(u.parallelism),
    Delay: num(u.delayNs),
    FailureAction: enumWord(names(UpdateConfig_FailureAction), u.failureAction, 'FAILURE_ACTION_'),
    Monitor: num(u.monitorNs),
    MaxFailureRatio: u.maxFailureRatio,
    Order: enumWord(names(UpdateConfig_Order), u.order, 'ORDER_'),
  });
}

function dockerResources(r: ResourceValues | undefined, pids: boolean): Json {
  return compact({
    NanoCPUs: nonZero(r?.nanoCpus),
    MemoryBytes: nonZero(r?.memoryBytes),
    Pids: pids ? nonZero(r?.pids) : undefined,
  });
}

const MOUNT_OPTIONS = ['BindOptions', 'VolumeOptions', 'TmpfsOptions', 'DriverConfig'];

export function dockerMount(m: Mount): Json {
  const type = enumWord(names(Mount_Type), m.type, 'TYPE_') || 'volume';
  const driver = compact({ Name: m.volumeDriver, Options: m.volumeDriverOpts }, ['Options']);
  return compact(
    {
      Type: type,
      Source: m.source,
      Target: m.target,
      ReadOnly: m.readOnly || undefined,
      BindOptions:
        type === 'bind'
          ? compact({ Propagation: m.bindPropagation, CreateMountpoint: m.bindCreateHostPath || undefined })
          : undefined,
      VolumeOptions:
        type === 'volume'
          ? compact(
              {
                NoCopy: m.volumeNocopy || undefined,
                Subpath: m.volumeSubpath,
                DriverConfig: Object.keys(driver).length > 0 ? driver : undefined,
              },
              MOUNT_OPTIONS,
            )
          : undefined,
      TmpfsOptions:
        type === 'tmpfs' ? compact({ SizeBytes: nonZero(m.tmpfsSizeBytes), Mode: nonZero(m.tmpfsMode) }) : undefined,
    },
    MOUNT_OPTIONS,
  );
}

/** Healthcheck as docker's HealthConfig, every duration in nanoseconds. */
export function dockerHealthcheck(h: HealthCheck | undefined): Json | undefined {
  if (!h || (h.test.length === 0 && !h.probe)) return undefined;
  return compact({
    Test: h.test,
    Interval: num(h.intervalNs),
    Timeout: num(h.timeoutNs),
    StartPeriod: num(h.startPeriodNs),
    StartInterval: nonZero(h.startIntervalNs),
    Retries: h.retries,
  });
}

/** A secret or config as docker references one: the file, the object's ID (the version in use) and its name. */
function dockerFileReference(f: FileReference, kind: 'Secret' | 'Config'): Json {
  return compact({
    File: compact({ Name: f.target, UID: f.uid, GID: f.gid, Mode: f.mode }),
    [`${kind}ID`]: f.objectId,
    [`${kind}Name`]: f.source,
  });
}

/** Docker's Privileges: no-new-privileges and seccomp (`default` when unset, a custom profile base64 as []byte). */
function dockerPrivileges(c: ContainerSpec): Json | undefined {
  const seccomp = !c.seccompProfile
    ? undefined
    : c.seccompProfile === 'unconfined'
      ? { Mode: 'unconfined' }
      : { Mode: 'custom', Profile: Buffer.from(c.seccompProfile).toString('base64') };
  if (!c.noNewPrivileges && !seccomp) return undefined;
  return compact({ NoNewPrivileges: c.noNewPrivileges || undefined, Seccomp: seccomp });
}

export function dockerContainerSpec(c: ContainerSpec | undefined): Json {
  if (!c) return {};
  return compact(
    {
      Image: c.image,
      Labels: c.labels,
      // Docker's Command replaces the image's entrypoint and Args its CMD, as Flotilla's entrypoint and command.
      Command: c.entrypoint,
      Args: c.command,
      Hostname: c.hostname,
      Env: c.env,
      Dir: c.workingDir,
      User: c.user,
      Privileges: dockerPrivileges(c),
      ReadOnly: c.readOnly || undefined,
      Mounts: c.mounts.map(dockerMount),
      StopSignal: c.stopSignal,
      StopGracePeriod: num(c.stopGracePeriodNs),
      Healthcheck: dockerHealthcheck(c.healthcheck),
      Secrets: c.secrets.map((s) => dockerFileReference(s, 'Secret')),
      Configs: c.configs.map((s) => dockerFileReference(s, 'Config')),
      Init: c.init,
      Sysctls: c.sysctls,
      CapabilityAdd: c.capAdd,
      CapabilityDrop: c.capDrop,
      Ulimits: c.ulimits.map((u) => ({ Name: u.name, Soft: num(u.soft), Hard: num(u.hard) })),
    },
    ['Labels', 'Sysctls'],
  );
}

/** `field==value` and `field!=value`, as docker writes a constraint. */
function constraintWord(c: { field: string; operator: Constraint_Operator; value: string }): string {
  return `${c.field}${c.operator === Constraint_Operator.OPERATOR_NEQ ? '!=' : '=='}${c.value}`;
}

/** A Compose depends_on condition as Compose spells it: service_started, service_healthy, ... */
const dependencyWord = (c: Dependency_Condition) =>
  enumWord(names(Dependency_Condition), c, 'CONDITION_').replaceAll('-', '_');

/** The spec's fields docker has no place for: they go under Spec.Flotilla. */
function flotillaSpec(spec: ServiceSpec): Json {
  const c = spec.container;
  const probe = c?.healthcheck?.probe;
  const d = spec.disconnect;
  return compact({
    Stack: spec.stack,
    DependsOn: spec.dependsOn.map((x) => ({
      Service: x.service,
      Condition: dependencyWord(x.condition),
      Required: x.required,
    })),
    Disconnect: d
      ? compact({ StopAfter: msToNs(d.stopAfterMs), NeverStop: d.neverStop, Replace: d.replace })
      : undefined,
    Sidecar: spec.sidecar
      ? compact({
          Service: spec.sidecar.service,
          ShareNetwork: spec.sidecar.shareNetwork,
          VolumesFrom: spec.sidecar.volumesFrom.map((v) => ({ Service: v.service, ReadOnly: v.readOnly })),
        })
      : undefined,
    HealthProbe: probe?.http
      ? { Http: { Port: probe.http.port, Path: probe.http.path || '/' } }
      : probe?.tcp
        ? { Tcp: { Port: probe.tcp.port } }
        : undefined,
    HostNetwork: c?.hostNetwork || undefined,
    Privileged: c?.privileged || undefined,
    PidHost: c?.pidHost || undefined,
    IpcHost: c?.ipcHost || undefined,
    AllowProcessExecutor: spec.placement?.allowProcessExecutor || undefined,
    NetworkAddresses: spec.networks
      .filter((n) => n.ipv4Address || n.ipv6Address)
      .map((n) => compact({ Target: n.target, IPv4Address: n.ipv4Address, IPv6Address: n.ipv6Address })),
  });
}

/** A ServiceSpec as docker's: Name, Labels, TaskTemplate, Mode, UpdateConfig, RollbackConfig, EndpointSpec. */
export function dockerServiceSpec(spec: ServiceSpec): Json {
  const placement = spec.placement;
  const restart = spec.restartPolicy;
  const flotilla = flotillaSpec(spec);
  return compact(
    {
      Name: spec.annotations?.name ?? '',
      Labels: spec.annotations?.labels ?? {},
      TaskTemplate: compact(
        {
          ContainerSpec: dockerContainerSpec(spec.container),
          Resources: {
            Limits: dockerResources(spec.resources?.limits, true),
            Reservations: dockerResources(spec.resources?.reservations, false),
          },
          RestartPolicy: restart
            ? compact({
                Condition: enumWord(names(RestartPolicy_Condition), restart.condition, 'CONDITION_'),
                Delay: num(restart.delayNs),
                MaxAttempts: num(restart.maxAttempts),
                Window: num(restart.windowNs),
              })
            : undefined,
          Placement: compact(
            {
              Constraints: (placement?.constraints ?? []).map(constraintWord),
              Preferences: (placement?.spread ?? []).map((s) => ({ Spread: { SpreadDescriptor: s } })),
              MaxReplicas: nonZero(placement?.maxReplicasPerNode),
              Platforms: (placement?.platforms ?? []).map((p) => ({ Architecture: p.architecture, OS: p.os })),
            },
            [],
          ),
          Networks: spec.networks.map((n) => compact({ Target: n.target, Aliases: n.aliases })),
          LogDriver: spec.logDriver?.name
            ? compact({ Name: spec.logDriver.name, Options: spec.logDriver.options }, ['Options'])
            : undefined,
        },
        [],
      ),
      Mode: dockerMode(spec),
      UpdateConfig: dockerUpdateConfig(spec.updateConfig),
      RollbackConfig: dockerUpdateConfig(spec.rollbackConfig),
      EndpointSpec: dockerEndpointSpec(spec.endpoint),
      Flotilla: flotilla,
    },
    ['Flotilla'],
  );
}

/** Docker's update states, which it spells with `_`: updating, paused, completed, rollback_started, ... */
export function updateStateWord(state: UpdateStatus_State | undefined): string {
  return enumWord(names(UpdateStatus_State), state, 'STATE_').replaceAll('-', '_');
}

function dockerUpdateStatus(u: UpdateStatus | undefined): Json | undefined {
  if (!u || u.state === UpdateStatus_State.STATE_UNSPECIFIED) return undefined;
  return compact({
    State: updateStateWord(u.state),
    StartedAt: rfc3339(u.startedAtMs),
    CompletedAt: rfc3339(u.completedAtMs),
    Message: u.message,
  });
}

/** A service as `docker service inspect` prints it; Flotilla's versions and history under `Flotilla`. */
export function dockerServiceInspect(s: Service): Json {
  const spec = s.spec ? dockerServiceSpec(s.spec) : {};
  return compact({
    ID: s.id,
    // Docker's object version: Flotilla's spec version, bumped by every change to the service's spec.
    Version: { Index: num(s.specVersion) },
    CreatedAt: rfc3339(s.createdAtMs),
    UpdatedAt: rfc3339(s.updatedAtMs),
    Spec: spec,
    PreviousSpec: s.previousSpec ? dockerServiceSpec(s.previousSpec) : undefined,
    Endpoint: compact({
      Spec: (spec.EndpointSpec as Json | undefined) ?? dockerEndpointSpec(undefined),
      Ports: s.endpointPorts.map(dockerPort),
      VirtualIPs: s.virtualIp ? [{ Addr: s.virtualIp }] : [],
    }),
    UpdateStatus: dockerUpdateStatus(s.updateStatus),
    Flotilla: compact({
      SpecVersion: num(s.specVersion),
      UpdateSpecVersion: nonZero(s.updateStatus?.specVersion),
      RebalanceRequestedAt: rfc3339(s.rebalanceRequestedAtMs),
      SameTaskSpecVersions: s.sameTaskSpecVersions.map(num),
      SpecHistory: s.specHistory.map((p) =>
        compact({
          SpecVersion: num(p.specVersion),
          ReplacedAt: rfc3339(p.replacedAtMs),
          SameTaskSpecVersions: p.sameTaskSpecVersions.map(num),
          Spec: p.spec ? dockerServiceSpec(p.spec) : undefined,
        }),
      ),
    }),
  });
}

/**
 * A node as `docker node inspect` prints it. A promoted node's manager gives it docker's ManagerStatus and the role
 * manager. Flotilla's node has no object version, so there is no Version.
 */
export function dockerNodeInspect(n: Node, manager?: ManagerView): Json {
  const d = n.description;
  return compact({
    ID: n.id,
    CreatedAt: rfc3339(n.createdAtMs),
    UpdatedAt: rfc3339(n.updatedAtMs),
    Spec: compact({
      Labels: n.spec?.labels ?? {},
      Role: manager ? 'manager' : enumWord(names(NodeSpec_Role), n.spec?.role, 'ROLE_') || 'worker',
      Availability: enumWord(names(NodeSpec_Availability), n.spec?.availability, 'AVAILABILITY_'),
    }),
    Description: compact({
      Hostname: d?.hostname ?? '',
      Platform: compact({ Architecture: d?.architecture, OS: d?.os }),
      Resources: compact({ NanoCPUs: num(d?.nanoCpus), MemoryBytes: num(d?.memoryBytes) }),
      Engine: compact({ EngineVersion: d?.runtimeVersion, Labels: d?.engineLabels ?? {} }),
    }),
    Status: compact({
      State: enumWord(names(NodeStatus_State), n.status?.state, 'STATE_') || 'unknown',
      Message: n.status?.message,
      Addr: n.status?.address,
    }),
    ManagerStatus: manager
      ? compact({
          Leader: manager.leader || undefined,
          Reachability: manager.reachable ? 'reachable' : 'unreachable',
          Addr: manager.manager?.address,
        })
      : undefined,
    Flotilla: compact({
      Addresses: d?.addresses ?? [],
      Runtime: d?.runtime,
      Executor: d?.executor,
      IngressAddress: n.ingressAddress,
      LastHeartbeatAt: rfc3339(n.status?.lastHeartbeatMs),
      ManagerID: manager?.manager?.id,
      EtcdMember: manager ? manager.manager?.etcdMember : undefined,
    }),
  });
}

/**
 * The top-level fields a template may name, read off the converters given objects with every optional part, so
 * that the list cannot drift from what they make.
 */
export const INSPECT_FIELDS = {
  service: Object.keys(
    dockerServiceInspect(
      Service.fromPartial({
        id: 's',
        createdAtMs: 1n,
        updatedAtMs: 1n,
        spec: {},
        previousSpec: {},
        updateStatus: { state: UpdateStatus_State.STATE_UPDATING },
      }),
    ),
  ),
  node: Object.keys(
    dockerNodeInspect(Node.fromPartial({ id: 'n', createdAtMs: 1n, updatedAtMs: 1n }), {
      leader: true,
      reachable: true,
    }),
  ),
} as const satisfies Record<string, readonly string[]>;

export type InspectKind = keyof typeof INSPECT_FIELDS;

/** Throws the usage error a bad inspect --format deserves (a template is checked against the fields). */
export function checkInspectFormat(format: string, kind: InspectKind): string {
  if (format === 'json' || format === 'raw') return format;
  if (isTemplate(format)) {
    compileTemplate(format, INSPECT_FIELDS[kind]);
    return format;
  }
  throw usageError(`--format ${JSON.stringify(format)}: use json, raw, or a Go template such as '{{.Spec.Name}}'`);
}

/** `--format` of `service inspect` and `node inspect`, checked as the line is read (a bad one exits 2 at once). */
export function inspectFormatOption(kind: InspectKind) {
  return new Option(
    '--format <FORMAT>',
    `json (docker's \`${kind} inspect\` shape, the default), raw (the API's objects), or a Go template such as ` +
      `'{{.Spec.Name}}' or '{{json .Spec}}'`,
  ).argParser((value: string) => checkInspectFormat(value, kind));
}

interface Inspection {
  format: string | undefined;
  kind: InspectKind;
  /** The objects in docker's shape. */
  docker: () => object[];
  /** The API's objects, for --format raw. */
  raw: () => unknown;
}

/** Inspected objects in the format asked for: docker's JSON array (the default), the API's JSON, or a template. */
export function renderInspection(i: Inspection): string {
  const format = checkInspectFormat(i.format ?? 'json', i.kind);
  if (format === 'json') return `${JSON.stringify(i.docker(), null, 2)}\n`;
  if (format === 'raw') return `${JSON.stringify(i.raw(), null, 2)}\n`;
  return compileTemplate(format, INSPECT_FIELDS[i.kind]).render(i.docker());
}

/** As docker's: --pretty is a layout of its own, and takes no --format. */
export function checkPretty(format: string | undefined, pretty: boolean | undefined): void {
  if (pretty && format !== undefined) throw usageError('--pretty and --format cannot be used together');
}
