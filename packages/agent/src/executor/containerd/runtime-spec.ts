import { hostname } from 'node:os';
import type { ContainerSpec, Task } from '@flotilla/api';
import { RejectedError } from '../executor.js';
import { CFS_PERIOD_US, cfsQuotaUs, limitsOf } from '../task-limits.js';
import { capabilities } from './capabilities.js';
import { type EtcFiles, standardMounts, userMount, type VolumeDirs } from './container-mounts.js';
import type { ImageConfig } from './image-config.js';
import { type OciSeccomp, ociSeccomp, parseSeccompProfile, type SeccompProfile } from './seccomp-profile.js';
import { type ContainerUser, resolveUser } from './user-lookup.js';

/** Where things live on the node, decided by the executor. */
export interface SpecContext extends VolumeDirs {
  /** Files the agent writes for the container (hosts, hostname, resolv.conf) and bind-mounts in. */
  etcFiles: EtcFiles;
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
  /**
   * The node's default seccomp profile (Docker's) and what its rules depend on; without it, a task that does not
   * ask for `seccomp=unconfined` is refused rather than run unconfined.
   */
  seccomp?: { profile: SeccompProfile; arch: string; kernel: string };
  /** What `privileged: true` grants: every capability the agent may hand out (its own bounding set). */
  privilegedCapabilities?: string[];
  /** The task's secrets and configs, bind-mounted from its tmpfs (see TaskFileMounts): mounted last. */
  fileMounts?: Record<string, unknown>[];
}

const INIT_IN_CONTAINER = '/sbin/flotilla-init';

type Rlimit = { type: string; soft: number; hard: number };

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
  '/sys/devices/virtual/powercap',
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

/**
 * The OCI runtime spec for a task's container: pure, from the task, its image's config and where things live
 * on the node. Follows Docker's defaults (capabilities, masked paths, /dev, /dev/shm size) so images behave
 * as they do under `docker run`.
 */
export function buildRuntimeSpec(task: Task, image: ImageConfig, ctx: SpecContext): Record<string, unknown> {
  const spec = task.spec;
  if (!spec) throw new RejectedError(`task ${task.id} has no container spec`);
  // Checked in this order, so that of several mistakes in a service the same one is reported first.
  let args = containerArgs(task, image);
  if (spec.init) args = [INIT_IN_CONTAINER, '--', ...args];
  const user: ContainerUser = ctx.user ?? resolveUser(spec.user || image.User || '');
  const mountList = mounts(spec, ctx);
  const limits = rlimits(spec);
  // Privileged as Docker has it (the manager admits it only under the privileged security profile): every
  // capability, no seccomp filter, no masked or read-only paths, /sys writable. Host devices stay out.
  const caps = spec.privileged ? (ctx.privilegedCapabilities ?? []) : capabilities(spec.capAdd, spec.capDrop);
  const seccomp = spec.privileged ? undefined : seccompOf(spec, ctx, caps);
  return {
    ociVersion: '1.0.2-dev',
    process: processSpec(task, spec, image, { args, user, rlimits: limits, caps }),
    root: { path: 'rootfs', readonly: spec.readOnly },
    hostname: spec.hostname || (ctx.netns === 'host' ? hostname() : task.id.slice(0, 12)),
    mounts: mountList,
    linux: {
      namespaces: namespaces(spec, ctx),
      cgroupsPath: ctx.cgroupsPath,
      resources: resources(task),
      sysctl: { ...spec.sysctls },
      maskedPaths: spec.privileged ? [] : MASKED_PATHS,
      readonlyPaths: spec.privileged ? [] : READONLY_PATHS,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}

/** The container's seccomp filter: the node's default profile, the service's own, or none when it asks so. */
function seccompOf(spec: ContainerSpec, ctx: SpecContext, caps: string[]): OciSeccomp | undefined {
  if (spec.seccompProfile === 'unconfined') return undefined;
  const node = ctx.seccomp;
  let profile = node?.profile;
  if (spec.seccompProfile !== '') {
    try {
      profile = parseSeccompProfile(spec.seccompProfile, "the service's seccomp profile");
    } catch (err) {
      throw new RejectedError((err as Error).message);
    }
  }
  if (!profile) {
    throw new RejectedError(
      'this node has no default seccomp profile: install golang-github-containers-common on it (or give the service security_opt: [seccomp=unconfined])',
    );
  }
  return ociSeccomp(profile, {
    arch: node?.arch ?? process.arch,
    kernel: node?.kernel ?? '0',
    capabilities: caps,
  });
}

/**
 * The process of a command run inside a running container (health checks): the container's own process with
 * other arguments, so it has exactly the container's user, groups, environment, capabilities and limits.
 */
export function buildExecProcess(argv: string[], base: Record<string, unknown>): Record<string, unknown> {
  return { ...base, terminal: false, args: argv };
}

/** The container's first process: what it runs, as whom, with which environment, capabilities and rlimits. */
function processSpec(
  task: Task,
  spec: ContainerSpec,
  image: ImageConfig,
  parts: { args: string[]; user: ContainerUser; rlimits: Rlimit[]; caps: string[] },
): Record<string, unknown> {
  const { args, user, caps } = parts;
  return {
    terminal: false,
    user: { uid: user.uid, gid: user.gid, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
    args,
    env: withHome(containerEnv(task, image), user),
    cwd: spec.workingDir || image.WorkingDir || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    rlimits: parts.rlimits,
    // Docker's default: setuid programs (ping, su) work, unless the service asks for no-new-privileges.
    noNewPrivileges: spec.noNewPrivileges,
  };
}

/** HOME as Docker sets it when neither the image nor the service does: the account's home, or `/`. */
function withHome(env: string[], user: ContainerUser): string[] {
  if (env.some((e) => e.startsWith('HOME='))) return env;
  return [...env, `HOME=${user.home ?? (user.uid === 0 ? '/root' : '/')}`];
}

function rlimits(spec: ContainerSpec): Rlimit[] {
  return spec.ulimits.map((u) => {
    const type = RLIMITS[u.name.toLowerCase()];
    if (!type)
      throw new RejectedError(`ulimit "${u.name}" is not known: use one of ${Object.keys(RLIMITS).join(', ')}`);
    return { type, soft: Number(u.soft), hard: Number(u.hard) };
  });
}

/** The standard mounts, tini for `init: true`, the service's own, then its secrets and configs. */
function mounts(spec: ContainerSpec, ctx: SpecContext): Record<string, unknown>[] {
  const all = standardMounts(ctx.etcFiles).map((m) =>
    spec.privileged && m.destination === '/sys' ? { ...m, options: ['nosuid', 'noexec', 'nodev', 'rw'] } : m,
  );
  if (spec.init) {
    all.push({ destination: INIT_IN_CONTAINER, type: 'bind', source: ctx.initPath, options: ['rbind', 'ro'] });
  }
  spec.mounts.forEach((m, i) => {
    all.push(userMount(m, i, ctx));
  });
  // Last: a tmpfs or volume the service mounts at /run must not hide them.
  all.push(...(ctx.fileMounts ?? []));
  return all;
}

function namespaces(spec: ContainerSpec, ctx: SpecContext): Record<string, string>[] {
  // `pid: host` / `ipc: host` (privileged security profile only): the node's own namespaces.
  const list: Record<string, string>[] = [
    ...(spec.pidHost ? [] : [{ type: 'pid' }]),
    ...(spec.ipcHost ? [] : [{ type: 'ipc' }]),
    { type: 'uts' },
    { type: 'mount' },
  ];
  // Under cgroup v2 a cgroup namespace makes the container's cgroup its root, as Docker does there.
  if (ctx.cgroupV2) list.push({ type: 'cgroup' });
  if (ctx.netns !== 'host') list.push(ctx.netns ? { type: 'network', path: ctx.netns } : { type: 'network' });
  return list;
}

function resources(task: Task): Record<string, unknown> {
  const limits = limitsOf(task);
  const res: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  // Swap equal to the limit: a container cannot use swap to get past its memory limit.
  if (limits.memoryBytes > 0) res.memory = { limit: limits.memoryBytes, swap: limits.memoryBytes };
  if (limits.nanoCpus > 0) res.cpu = { quota: cfsQuotaUs(limits.nanoCpus), period: CFS_PERIOD_US };
  if (limits.pids > 0) res.pids = { limit: limits.pids };
  return res;
}
