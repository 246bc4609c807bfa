import { hostname, constants as osConstants } from 'node:os';
import { type Mount, Mount_Type, type Task } from '@flotilla/api';
import { RejectedError } from '../executor.js';
import type { ContainerUser } from './user-lookup.js';

/** The parts of an OCI image config a container starts from. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  /** The image's HEALTHCHECK: durations in nanoseconds, as Docker writes them. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
}

/** Where things live on the node, decided by the executor. */
export interface SpecContext {
  /** Named volumes are directories under here (one per volume name). */
  volumesDir: string;
  /** Anonymous volumes (`- /data`) are directories under here, one per mount, gone with the task. */
  anonymousDir?: string;
  /** Files the agent writes for the container (hosts, hostname, resolv.conf) and bind-mounts in. */
  etcFiles: { hosts: string; hostname: string; resolvConf: string };
  /** tini on the host, mounted in as PID 1 when the service asks for `init: true`. */
  initPath: string;
  /** The network namespace to join; none: a private one with only loopback; 'host': the node's own. */
  netns?: string | 'host';
  /** cgroup path (cgroup v1 style `/flotilla/<id>` or a systemd slice). */
  cgroupsPath: string;
  /** The node uses the unified cgroup hierarchy (v2). */
  cgroupV2?: boolean;
  /** The user, already resolved against the image's account files when `user:` names one. */
  user?: ContainerUser;
}

/** The user IDs a `user:` setting names (numeric only for now: see resolveUser). */
export interface ResolvedUser {
  uid: number;
  gid: number;
}

const INIT_IN_CONTAINER = '/sbin/flotilla-init';
const CFS_PERIOD_US = 100_000;

/** Docker's default capability set: what a container may do without `cap_add`. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const RLIMITS: Record<string, string> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
  as: 'RLIMIT_AS',
};

/** The command a container runs: the service's entrypoint/command override the image's, as Docker does. */
export function containerArgs(task: Task, image: ImageConfig): string[] {
  const spec = task.spec;
  const entrypoint = spec?.entrypointSet ? spec.entrypoint : (image.Entrypoint ?? []);
  // Overriding the entrypoint drops the image's CMD too (Docker semantics).
  const cmd = spec?.commandSet ? spec.command : spec?.entrypointSet ? [] : (image.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new RejectedError(
      `image ${spec?.image} has no entrypoint or command, and the service sets none: give it a command`,
    );
  }
  return args;
}

/** Image env first, then the service's: later entries win, as in Docker. */
export function containerEnv(task: Task, image: ImageConfig): string[] {
  const merged = new Map<string, string>();
  for (const entry of [...(image.Env ?? []), ...(task.spec?.env ?? [])]) {
    const at = entry.indexOf('=');
    const key = at < 0 ? entry : entry.slice(0, at);
    merged.set(key, entry);
  }
  if (!merged.has('PATH')) merged.set('PATH', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  if (!merged.has('HOSTNAME') && task.spec?.hostname) merged.set('HOSTNAME', `HOSTNAME=${task.spec.hostname}`);
  return [...merged.values()];
}

/** `user:` as uid[:gid] (names are resolved against the image's files first: see user-lookup.ts). */
export function resolveUser(user: string): ResolvedUser {
  if (user === '' || user === 'root' || user === 'root:root') return { uid: 0, gid: 0 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  // Without the image's passwd, a bare uid gets group 0, as Docker gives a uid it cannot look up.
  if (!m) {
    throw new RejectedError(`user "${user}": give a user name, or a numeric uid[:gid]`);
  }
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : 0 };
}

/**
 * A signal's number from its name (`SIGTERM`, `TERM`, `15`; real-time ones as `SIGRTMIN+3`). An unknown name
 * gives SIGTERM, so a task can always be stopped (stack validation reports such names).
 */
export function signalNumber(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const upper = name.toUpperCase();
  const key = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(key) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(key);
  if (rt) return key.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  return (osConstants.signals as Record<string, number>)[key] ?? 15;
}

/**
 * The OCI runtime spec for a task's container: pure, from the task, its image's config and where things live
 * on the node. Follows Docker's defaults (capabilities, masked paths, /dev, /dev/shm size) so images behave
 * as they do under `docker run`.
 */
export function buildRuntimeSpec(task: Task, image: ImageConfig, ctx: SpecContext): Record<string, unknown> {
  const spec = task.spec;
  if (!spec) throw new RejectedError(`task ${task.id} has no container spec`);
  let args = containerArgs(task, image);
  if (spec.init) args = [INIT_IN_CONTAINER, '--', ...args];
  const user: ContainerUser = ctx.user ?? resolveUser(spec.user || image.User || '');
  const caps = capabilities(spec.capAdd, spec.capDrop);

  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // The container's own cgroups, read-only: runtimes (JVM, .NET, Go, Node) size themselves to their limits.
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['ro', 'nosuid', 'noexec', 'nodev', 'relatime'],
    },
    { destination: '/etc/hosts', type: 'bind', source: ctx.etcFiles.hosts, options: ['rbind', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: ctx.etcFiles.hostname, options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: ctx.etcFiles.resolvConf, options: ['rbind', 'ro'] },
  ];
  if (spec.init) {
    mounts.push({ destination: INIT_IN_CONTAINER, type: 'bind', source: ctx.initPath, options: ['rbind', 'ro'] });
  }
  spec.mounts.forEach((m, i) => {
    mounts.push(userMount(m, i, ctx));
  });

  const namespaces: Record<string, string>[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  // Under cgroup v2 a cgroup namespace makes the container's cgroup its root, as Docker does there.
  if (ctx.cgroupV2) namespaces.push({ type: 'cgroup' });
  if (ctx.netns !== 'host') namespaces.push(ctx.netns ? { type: 'network', path: ctx.netns } : { type: 'network' });

  const limits = task.resources?.limits;
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (limits?.memoryBytes && limits.memoryBytes > 0n) {
    // Swap equal to the limit: a container cannot use swap to get past its memory limit.
    resources.memory = { limit: Number(limits.memoryBytes), swap: Number(limits.memoryBytes) };
  }
  if (limits?.nanoCpus && limits.nanoCpus > 0n) {
    resources.cpu = { quota: Math.round((Number(limits.nanoCpus) / 1e9) * CFS_PERIOD_US), period: CFS_PERIOD_US };
  }
  if (limits?.pids && limits.pids > 0n) resources.pids = { limit: Number(limits.pids) };

  const rlimits = spec.ulimits.map((u) => {
    const type = RLIMITS[u.name.toLowerCase()];
    if (!type)
      throw new RejectedError(`ulimit "${u.name}" is not known: use one of ${Object.keys(RLIMITS).join(', ')}`);
    return { type, soft: Number(u.soft), hard: Number(u.hard) };
  });

  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
      args,
      env: withHome(containerEnv(task, image), user),
      cwd: spec.workingDir || image.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits,
      // Docker's default: setuid programs (ping, su) work. security_opt is not honoured per service.
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: spec.readOnly },
    hostname: spec.hostname || (ctx.netns === 'host' ? hostname() : task.id.slice(0, 12)),
    mounts,
    linux: {
      namespaces,
      cgroupsPath: ctx.cgroupsPath,
      resources,
      sysctl: { ...spec.sysctls },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/** HOME as Docker sets it when neither the image nor the service does: the account's home, or `/`. */
function withHome(env: string[], user: ContainerUser): string[] {
  if (env.some((e) => e.startsWith('HOME='))) return env;
  return [...env, `HOME=${user.home ?? (user.uid === 0 ? '/root' : '/')}`];
}

/** The process spec of a command run inside a running container (health checks), as the container's user. */
/**
 * The process of a command run inside a running container (health checks): the container's own process with
 * other arguments, so it has exactly the container's user, groups, environment, capabilities and limits.
 */
export function buildExecProcess(argv: string[], base: Record<string, unknown>): Record<string, unknown> {
  return { ...base, terminal: false, args: argv };
}

function capabilities(add: string[], drop: string[]): string[] {
  const norm = (c: string) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`);
  const dropAll = drop.some((c) => c.toUpperCase() === 'ALL');
  const set = new Set(dropAll ? [] : DEFAULT_CAPABILITIES);
  for (const c of drop) if (c.toUpperCase() !== 'ALL') set.delete(norm(c));
  for (const c of add) {
    // ALL in cap_add is honoured as asked, but only a privileged need should use it.
    if (c.toUpperCase() === 'ALL') for (const all of ALL_CAPABILITIES) set.add(all);
    else set.add(norm(c));
  }
  return [...set].sort();
}

const ALL_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES,
  'CAP_DAC_READ_SEARCH',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_LEASE',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
];

function userMount(m: Mount, index: number, ctx: SpecContext) {
  const ro = m.readOnly ? ['ro'] : ['rw'];
  switch (m.type) {
    case Mount_Type.TYPE_TMPFS: {
      const options = ['nosuid', 'nodev', ...ro];
      if (m.tmpfsSizeBytes > 0n) options.push(`size=${m.tmpfsSizeBytes}`);
      if (m.tmpfsMode) options.push(`mode=${m.tmpfsMode.toString(8)}`);
      return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options };
    }
    case Mount_Type.TYPE_BIND:
      return {
        destination: m.target,
        type: 'bind',
        source: m.source,
        options: ['rbind', m.bindPropagation || 'rprivate', ...ro],
      };
    default:
      return {
        destination: m.target,
        type: 'bind',
        source: volumeSource(m, index, ctx),
        options: ['rbind', 'rprivate', ...ro],
      };
  }
}

/**
 * Where a volume mount's data lives on the node: a named volume is a directory under the agent's volumes
 * directory, an anonymous one a directory of the task's. Names and subpaths that could lead out of those
 * directories are refused.
 */
export function volumeSource(m: Mount, index: number, dirs: { volumesDir: string; anonymousDir?: string }): string {
  let base: string;
  if (!m.source) {
    if (!dirs.anonymousDir) throw new RejectedError(`the volume mounted at ${m.target} has no name`);
    base = `${dirs.anonymousDir}/${index}`;
  } else if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(m.source) && !m.source.includes('..')) {
    base = `${dirs.volumesDir}/${m.source}`;
  } else {
    throw new RejectedError(
      `the volume mounted at ${m.target} needs a name of letters, digits, "_", "." and "-" (got "${m.source}")`,
    );
  }
  if (!m.volumeSubpath) return base;
  const parts = m.volumeSubpath.split('/').filter((p) => p !== '' && p !== '.');
  if (m.volumeSubpath.startsWith('/') || parts.includes('..') || parts.length === 0) {
    throw new RejectedError(
      `the subpath "${m.volumeSubpath}" of the volume at ${m.target} must be a relative path inside the volume`,
    );
  }
  return `${base}/${parts.join('/')}`;
}

/** The node directories a task's volume mounts need (checked first: see volumeSource). */
export function volumeSources(
  task: Task,
  dirs: { volumesDir: string; anonymousDir?: string },
): { volumes: { base: string; source: string }[]; binds: Mount[] } {
  const volumes: { base: string; source: string }[] = [];
  const binds: Mount[] = [];
  (task.spec?.mounts ?? []).forEach((m, i) => {
    if (m.type === Mount_Type.TYPE_BIND) binds.push(m);
    else if (m.type !== Mount_Type.TYPE_TMPFS) {
      const source = volumeSource(m, i, dirs);
      const base = m.source ? `${dirs.volumesDir}/${m.source}` : `${dirs.anonymousDir}/${i}`;
      volumes.push({ base, source });
    }
  });
  return { volumes, binds };
}
