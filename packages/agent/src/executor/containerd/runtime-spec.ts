import { hostname } from 'node:os';
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
  /** The image's HEALTHCHECK: durations in nanoseconds, as Docker writes them. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
}

/** Where things live on the node, decided by the executor. */
export interface SpecContext {
  /** Named volumes are directories under here (one per volume name). */
  volumesDir: string;
  /** Files the agent writes for the container (hosts, hostname, resolv.conf) and bind-mounts in. */
  etcFiles: { hosts: string; hostname: string; resolvConf: string };
  /** tini on the host, mounted in as PID 1 when the service asks for `init: true`. */
  initPath: string;
  /** The network namespace to join; none: a private one with only loopback; 'host': the node's own. */
  netns?: string | 'host';
  /** cgroup path (cgroup v1 style `/flotilla/<id>` or a systemd slice). */
  cgroupsPath: string;
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
  if (!m) {
    throw new RejectedError(`user "${user}": give a user name, or a numeric uid[:gid]`);
  }
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}

/** Docker's stop default when neither the service nor the image names a signal. */
export function signalNumber(name: string): number {
  const table: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGUSR1: 10,
    SIGUSR2: 12,
    SIGTERM: 15,
    SIGWINCH: 28,
  };
  const upper = name.toUpperCase();
  const key = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (/^\d+$/.test(name)) return Number(name);
  return table[key] ?? 15;
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
    { destination: '/etc/hosts', type: 'bind', source: ctx.etcFiles.hosts, options: ['rbind', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: ctx.etcFiles.hostname, options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: ctx.etcFiles.resolvConf, options: ['rbind', 'ro'] },
  ];
  if (spec.init) {
    mounts.push({ destination: INIT_IN_CONTAINER, type: 'bind', source: ctx.initPath, options: ['rbind', 'ro'] });
  }
  for (const m of spec.mounts) mounts.push(userMount(m, ctx));

  const namespaces: Record<string, string>[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
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
      env: containerEnv(task, image),
      cwd: spec.workingDir || image.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits,
      noNewPrivileges: true,
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

/** The process spec of a command run inside a running container (health checks), as the container's user. */
export function buildExecProcess(
  argv: string[],
  base: { env: string[]; cwd: string; user: ResolvedUser },
): Record<string, unknown> {
  return {
    terminal: false,
    user: { uid: base.user.uid, gid: base.user.gid },
    args: argv,
    env: base.env,
    cwd: base.cwd,
    capabilities: { bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES },
    noNewPrivileges: true,
  };
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

function userMount(m: Mount, ctx: SpecContext) {
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
    default: {
      // A named volume is a directory the agent keeps under its state directory; an anonymous one is per task.
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(m.source)) {
        throw new RejectedError(
          `the volume mounted at ${m.target} needs a name of letters, digits, "_", "." and "-" (got "${m.source}")`,
        );
      }
      const sub = m.volumeSubpath ? `/${m.volumeSubpath.replace(/^\/+/, '')}` : '';
      return {
        destination: m.target,
        type: 'bind',
        source: `${ctx.volumesDir}/${m.source}${sub}`,
        options: ['rbind', 'rprivate', ...ro],
      };
    }
  }
}
