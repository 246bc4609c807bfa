import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { type Mount, Mount_Type, type Task } from '@flotilla/api';
import { RejectedError } from '../executor.js';

/** Where a task's volumes live on the node. */
export interface VolumeDirs {
  /** Named volumes are directories under here (one per volume name). */
  volumesDir: string;
  /** Anonymous volumes (`- /data`) are directories under here, one per mount, gone with the task. */
  anonymousDir?: string;
}

/** The node files the agent writes for a container and bind-mounts in (see etc-files.ts). */
export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

/** An OCI mount entry. */
type OciMount = Record<string, unknown>;

/**
 * What every container mounts, as Docker does: /proc, /dev and its parts, a read-only /sys and its own cgroups,
 * and the agent's /etc files.
 */
export function standardMounts(etc: EtcFiles): OciMount[] {
  return [
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
    { destination: '/etc/hosts', type: 'bind', source: etc.hosts, options: ['rbind', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: etc.hostname, options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: etc.resolvConf, options: ['rbind', 'ro'] },
  ];
}

/** One of the service's mounts (tmpfs, bind or volume, by index among its mounts) as an OCI mount. */
export function userMount(m: Mount, index: number, dirs: VolumeDirs): OciMount {
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
        source: volumeSource(m, index, dirs),
        options: ['rbind', 'rprivate', ...ro],
      };
  }
}

/**
 * Where a volume mount's data lives on the node: a named volume is a directory under the agent's volumes
 * directory, an anonymous one a directory of the task's. Names and subpaths that could lead out of those
 * directories are refused.
 */
export function volumeSource(m: Mount, index: number, dirs: VolumeDirs): string {
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
  dirs: VolumeDirs,
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

/**
 * Makes what the task's volume and bind mounts need on the node, once every name, subpath and bind source has
 * been checked (before anything is made): volume directories, and bind sources the service lets be created.
 */
export function makeMountSources(task: Task, dirs: VolumeDirs): void {
  const sources = volumeSources(task, dirs);
  for (const { base, source } of sources.volumes) {
    mkdirSync(source, { recursive: true });
    // A symlink a task left inside a volume must not lead a later mount out of it.
    const real = realpathSync(source);
    const inside = realpathSync(base);
    if (real !== inside && !real.startsWith(`${inside}/`)) {
      throw new RejectedError(`the volume mounted from ${source} leads outside its volume: remove the symlink`);
    }
  }
  for (const m of sources.binds) {
    if (existsSync(m.source)) continue;
    if (!m.bindCreateHostPath) {
      throw new RejectedError(
        `the bind mount source ${m.source} does not exist on this node: create it, or set bind.create_host_path`,
      );
    }
    mkdirSync(m.source, { recursive: true });
  }
}
