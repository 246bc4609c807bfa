import { Code, FlotillaError } from '@flotilla/api';

/**
 * Host paths as the admission policy reasons about them: lexically. The manager cannot see the nodes' file
 * systems, so a path is judged by its text after normalization (`/etc/../etc`, `//etc`, `/etc/` are all `/etc`);
 * a symlink on a node (`/srv/link -> /etc`) is not followed. See the README's "Admission policy".
 */

/** Why each sensitive host path is: binding it, anything under it, or a directory above it exposes the host. */
export const SENSITIVE_HOST_PATHS: Readonly<Record<string, string>> = {
  '/etc': "the host's configuration",
  '/proc': "the host's processes and kernel settings",
  '/sys': "the host's kernel and devices",
  '/dev': "the host's devices",
  '/boot': "the host's kernel and boot loader",
  '/usr': "the host's programs",
  // Before /usr was merged, and where they are still symlinks into it: the same programs and libraries.
  '/bin': "the host's programs",
  '/sbin': "the host's programs",
  '/lib': "the host's libraries",
  '/lib32': "the host's libraries",
  '/lib64': "the host's libraries",
  '/root': "the host root user's home",
  '/run/containerd': "containerd's socket and task state",
  '/var/run/containerd': "containerd's socket and task state",
  '/var/lib/containerd': "containerd's images and container state",
  '/run/docker.sock': "Docker's socket",
  '/var/run/docker.sock': "Docker's socket",
  '/run/docker': "Docker's runtime state",
  '/var/run/docker': "Docker's runtime state",
  '/var/lib/docker': "Docker's images and container state",
  '/run/runc': "runc's container state",
  '/run/crio': "CRI-O's socket",
  '/var/run/crio': "CRI-O's socket",
  // Where the README puts the manager's and the agent's --state-dir (the CA key, node keys, the etcd member's data).
  '/var/lib/flotilla': "Flotilla's state (keys, certificates, etcd data)",
  // Debian's etcd-server keeps its data here.
  '/var/lib/etcd': "etcd's data",
};

/** Sockets that hand out root on the host wherever they are (dev clusters put containerd's in other places). */
const SENSITIVE_SOCKET_NAMES = new Set(['docker.sock', 'containerd.sock', 'containerd.sock.ttrpc', 'crio.sock']);

/**
 * An absolute path with `.`, `..`, repeated and trailing slashes resolved as the kernel would without symlinks
 * (`..` above `/` stays at `/`); undefined for a path that is not absolute.
 */
export function normalizeHostPath(input: string): string | undefined {
  if (!input.startsWith('/')) return undefined;
  const parts: string[] = [];
  for (const part of input.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** Whether `path` is `prefix` or lies under it (both normalized). */
export function isUnder(path: string, prefix: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

/** What a bind of this (normalized) host path would expose that it should not; undefined when nothing. */
export function sensitiveExposure(path: string): { sensitive: string; why: string } | undefined {
  for (const [sensitive, why] of Object.entries(SENSITIVE_HOST_PATHS)) {
    // The path itself or below it, or a directory above it (`/`, `/var`, `/run`), which holds it.
    if (isUnder(path, sensitive) || isUnder(sensitive, path)) return { sensitive, why };
  }
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (SENSITIVE_SOCKET_NAMES.has(name)) return { sensitive: path, why: 'a container runtime socket' };
  return undefined;
}

/** `--allow-bind` prefixes, normalized and deduplicated; each must be an absolute path. */
export function allowedBindPrefixes(prefixes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const prefix of prefixes) {
    if (prefix.trim() === '') continue;
    const path = normalizeHostPath(prefix.trim());
    if (path === undefined) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `--allow-bind: "${prefix}" is not an absolute host path: give prefixes such as /srv,/data (or '' to clear them)`,
      );
    }
    out.add(path);
  }
  return [...out].sort();
}
