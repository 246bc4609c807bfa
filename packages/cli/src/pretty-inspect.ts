import {
  Constraint_Operator,
  EndpointSpec_Mode,
  type ManagerView,
  Mount_Type,
  type Node,
  NodeSpec_Availability,
  NodeStatus_State,
  PortConfig_PublishMode,
  type ResourceValues,
  type Service,
  ServiceMode,
  type UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  UpdateStatus_State,
} from '@flotilla/api';
import { formatDuration } from '@flotilla/stack';
import { protocolWord } from './output/docker-json.js';
import { ago } from './table.js';

// `service inspect --pretty` and `node inspect --pretty` in the docker CLI's layout: its section names, labels,
// order and indentation. Docker writes tabs and leaves them to the terminal; they are expanded here to the same
// 8-column stops, so the text looks the same on a terminal and in a file or a pipe.

/** An enum value's name without its prefix, lower case: `STATE_READY` -> `ready`. */
const word = (names: Record<number, string>, value: number, prefix: string) =>
  (names[value] ?? '').replace(prefix, '').toLowerCase();

/** Docker's PrettyPrint: the first letter upper case, the rest lower case. */
const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1).toLowerCase();

/** Go's `%v` of a string slice: `[a b]`. */
const goList = (items: readonly string[]) => `[${items.join(' ')}]`;

/** Map entries in key order, as Go templates range over maps. */
const sorted = (map: Record<string, string> | undefined) =>
  Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Tabs to spaces at 8-column stops; trailing blanks dropped. */
export function expandTabs(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      let out = '';
      for (const ch of line) out += ch === '\t' ? ' '.repeat(8 - (out.length % 8)) : ch;
      return out.trimEnd();
    })
    .join('\n');
}

/** Bytes as docker's units.BytesSize: binary units, four significant digits (`512MiB`, `7.704GiB`). */
export function bytesSize(bytes: bigint | number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let size = Number(bytes);
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${units[unit]}`;
}

/** A time as Go prints a time.Time in UTC: `2026-12-07 19:03:54.12 +0000 utc` (docker lowers the zone). */
export function goTime(ms: bigint | number): string {
  const iso = new Date(Number(ms)).toISOString(); // 2026-12-07T19:03:54.120Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''} +0000 utc`;
}

const nanoCpus = (n: bigint) => String(Number(n) / 1e9);

/** `service inspect --pretty`: one service, docker's sections in docker's order. */
export function prettyService(s: Service, now = Date.now()): string {
  const spec = s.spec;
  const c = spec?.container;
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  push(`ID:\t\t${s.id}`, `Name:\t\t${spec?.annotations?.name ?? ''}`);
  const labels = sorted(spec?.annotations?.labels);
  if (labels.length > 0) push('Labels:', ...labels.map(([k, v]) => ` ${k}${v ? `=${v}` : ''}`));

  const mode = spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED;
  // Docker names two modes; Flotilla's jobs are said the same way (docker leaves the line empty for them).
  const modeName = {
    [ServiceMode.SERVICE_MODE_GLOBAL]: 'Global',
    [ServiceMode.SERVICE_MODE_GLOBAL_JOB]: 'Global job',
    [ServiceMode.SERVICE_MODE_REPLICATED_JOB]: 'Replicated job',
  }[mode as number];
  push(`Service Mode:\t${modeName ?? 'Replicated'}`);
  const replicated = mode !== ServiceMode.SERVICE_MODE_GLOBAL && mode !== ServiceMode.SERVICE_MODE_GLOBAL_JOB;
  if (replicated && spec?.replicas) push(` Replicas:\t${spec.replicas}`);

  const status = s.updateStatus;
  if (status && status.state !== UpdateStatus_State.STATE_UNSPECIFIED) {
    push('UpdateStatus:', ` State:\t\t${word(UpdateStatus_State, status.state, 'STATE_')}`);
    if (status.startedAtMs) push(` Started:\t${ago(status.startedAtMs, now)}`);
    if (status.state === UpdateStatus_State.STATE_COMPLETED && status.completedAtMs) {
      push(` Completed:\t${ago(status.completedAtMs, now)}`);
    }
    push(` Message:\t${status.message}`);
  }

  push('Placement:');
  const placement = spec?.placement;
  const constraints = (placement?.constraints ?? []).map(
    (k) => `${k.field}${k.operator === Constraint_Operator.OPERATOR_NEQ ? '!=' : '=='}${k.value}`,
  );
  if (constraints.length > 0) push(` Constraints:\t${goList(constraints)}`);
  if (placement?.spread.length) push(` Preferences:   ${goList(placement.spread.map((p) => `spread=${p}`))}`);
  if (placement?.maxReplicasPerNode) push(` Max Replicas Per Node:   ${placement.maxReplicasPerNode}`);

  if (spec?.updateConfig) push('UpdateConfig:', ...rolloutLines(spec.updateConfig, 'Update order:      '));
  if (spec?.rollbackConfig) push('RollbackConfig:', ...rolloutLines(spec.rollbackConfig, 'Rollback order:    '));

  push('ContainerSpec:', ` Image:\t\t${c?.image ?? ''}`);
  // Docker's Args are what follows the image (Compose's command), each followed by a space.
  if (c?.command.length) push(` Args:\t\t${c.command.map((a) => `${a} `).join('')}`);
  if (c?.env.length) push(` Env:\t\t${c.env.map((e) => `${e} `).join('')}`);
  if (c?.workingDir) push(` Dir:\t\t${c.workingDir}`);
  if (c?.init) push(` Init:\t\t${c.init}`);
  if (c?.user) push(` User: ${c.user}`);
  if (c?.capAdd.length || c?.capDrop.length) {
    push('Capabilities:');
    if (c.capAdd.length) push(` Add: ${c.capAdd.join(', ')}`);
    if (c.capDrop.length) push(` Drop: ${c.capDrop.join(', ')}`);
  }
  const sysctls = sorted(c?.sysctls);
  if (sysctls.length > 0) push('SysCtls:', ...sysctls.map(([k, v]) => ` ${k}${v ? `: ${v}` : ''}`));
  const ulimits = [...(c?.ulimits ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (ulimits.length > 0) push('Ulimits:', ...ulimits.map((u) => ` ${u.name}: ${u.soft}:${u.hard}`));
  if (c?.mounts.length) {
    push('Mounts:');
    for (const m of c.mounts) {
      push(
        ` Target:\t${m.target}`,
        `  Source:\t${m.source}`,
        `  ReadOnly:\t${m.readOnly}`,
        `  Type:\t\t${word(Mount_Type, m.type, 'TYPE_')}`,
      );
    }
  }
  for (const [title, refs] of [
    ['Configs:', c?.configs ?? []],
    ['Secrets:', c?.secrets ?? []],
  ] as const) {
    if (refs.length > 0) push(title, ...refs.flatMap((r) => [` Target:\t${r.target}`, `  Source:\t${r.source}`]));
  }
  const log = spec?.logDriver;
  if (log?.name) {
    push('Log Driver:', ` Name:\t\t${log.name}`);
    const opts = sorted(log.options);
    if (opts.length > 0) push(' LogOpts:', ...opts.map(([k, v]) => `  ${k}${v ? `:       ${v}` : ''}`));
  }

  push('Resources:');
  const reserve = spec?.resources?.reservations;
  if (reserve && (reserve.nanoCpus > 0n || reserve.memoryBytes > 0n)) push(' Reservations:', ...cpuMemory(reserve));
  const limits = spec?.resources?.limits;
  if (limits && (limits.nanoCpus > 0n || limits.memoryBytes > 0n || limits.pids > 0n)) {
    push(' Limits:', ...cpuMemory(limits));
    if (limits.pids > 0n) push(`  PIDs:\t\t${limits.pids}`);
  }
  if (spec?.networks.length) push(`Networks:${spec.networks.map((n) => ` ${n.target}`).join('')}`);
  const endpointMode = spec?.endpoint?.mode === EndpointSpec_Mode.MODE_DNSRR ? 'dnsrr' : 'vip';
  push(`Endpoint Mode:\t${endpointMode}`);
  const ports = s.endpointPorts.length > 0 ? s.endpointPorts : (spec?.endpoint?.ports ?? []);
  if (ports.length > 0) {
    push('Ports:');
    for (const p of ports) {
      push(
        ` PublishedPort = ${p.publishedPort}`,
        `  Protocol = ${protocolWord(p.protocol)}`,
        `  TargetPort = ${p.targetPort}`,
        `  PublishMode = ${p.publishMode === PortConfig_PublishMode.PUBLISH_MODE_HOST ? 'host' : 'ingress'}`,
      );
    }
  }
  const health = c?.healthcheck;
  if (health && (health.test.length > 0 || health.probe)) {
    push(
      ' Healthcheck:',
      `  Interval = ${formatDuration(health.intervalNs)}`,
      `  Retries = ${health.retries}`,
      `  StartPeriod =\t${formatDuration(health.startPeriodNs)}`,
      `  Timeout =\t${formatDuration(health.timeoutNs)}`,
    );
    if (health.test.length > 0) push('  Tests:', ...health.test.map((t) => `\t Test = ${t}`));
    // Flotilla's own probe (x-flotilla-probe), made by the agent from outside the task: docker has none to show.
    if (health.probe?.http) push(`  Probe = http :${health.probe.http.port}${health.probe.http.path || '/'}`);
    if (health.probe?.tcp) push(`  Probe = tcp :${health.probe.tcp.port}`);
  }
  return `${expandTabs(out.join('\n'))}\n`;
}

function rolloutLines(u: UpdateConfig, orderLabel: string): string[] {
  const lines = [` Parallelism:\t${u.parallelism}`];
  if (u.delayNs > 0n) lines.push(` Delay:\t\t${formatDuration(u.delayNs)}`);
  lines.push(` On failure:\t${word(UpdateConfig_FailureAction, u.failureAction, 'FAILURE_ACTION_') || 'pause'}`);
  if (u.monitorNs > 0n) lines.push(` Monitoring Period: ${formatDuration(u.monitorNs)}`);
  lines.push(` Max failure ratio: ${u.maxFailureRatio}`);
  const order = word(UpdateConfig_Order, u.order, 'ORDER_').replace('_', '-');
  lines.push(` ${orderLabel}${order === 'unspecified' || !order ? 'stop-first' : order}`);
  return lines;
}

function cpuMemory(values: ResourceValues): string[] {
  const lines: string[] = [];
  if (values.nanoCpus > 0n) lines.push(`  CPU:\t\t${nanoCpus(values.nanoCpus)}`);
  if (values.memoryBytes > 0n) lines.push(`  Memory:\t${bytesSize(values.memoryBytes)}`);
  return lines;
}

/** `node inspect --pretty`: a node, with its manager's status when it runs one (`node promote`). */
export function prettyNode(n: Node, manager?: ManagerView): string {
  const d = n.description;
  const out: string[] = [`ID:\t\t\t${n.id}`];
  const labels = sorted(n.spec?.labels);
  if (labels.length > 0) out.push('Labels:', ...labels.map(([k, v]) => ` - ${k}${v ? `=${v}` : ''}`));
  out.push(
    `Hostname:              \t${d?.hostname ?? ''}`,
    `Joined at:             \t${goTime(n.createdAtMs)}`,
    'Status:',
    ` State:\t\t\t${capitalized(word(NodeStatus_State, n.status?.state ?? 0, 'STATE_') || 'unknown')}`,
  );
  if (n.status?.message)
    out.push(` Message:              \t${n.status.message.charAt(0).toUpperCase()}${n.status.message.slice(1)}`);
  out.push(
    ` Availability:         \t${capitalized(word(NodeSpec_Availability, n.spec?.availability ?? 0, 'AVAILABILITY_'))}`,
  );
  if (n.status?.address) out.push(` Address:\t\t${n.status.address}`);
  if (manager) {
    out.push(
      'Manager Status:',
      ` Address:\t\t${manager.manager?.address ?? ''}`,
      ` Raft Status:\t\t${manager.reachable ? 'Reachable' : 'Unreachable'}`,
      ` Leader:\t\t${manager.leader ? 'Yes' : 'No'}`,
    );
  }
  out.push(
    'Platform:',
    ` Operating System:\t${d?.os ?? ''}`,
    ` Architecture:\t\t${d?.architecture ?? ''}`,
    'Resources:',
    ` CPUs:\t\t\t${Math.floor(Number(d?.nanoCpus ?? 0n) / 1e9)}`,
    ` Memory:\t\t${d?.memoryBytes ? bytesSize(d.memoryBytes) : ''}`,
    `Engine Version:\t\t${d?.runtime ? `${d.runtime} ${d.runtimeVersion}` : ''}`,
  );
  const engineLabels = sorted(d?.engineLabels);
  if (engineLabels.length > 0)
    out.push('Engine Labels:', ...engineLabels.map(([k, v]) => ` - ${k}${v ? `=${v}` : ''}`));
  return `${expandTabs(out.join('\n'))}\n`;
}
