import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { RejectedError, type TaskFileContent } from '../executor.js';

const run = promisify(execFile);

/** A file's mode when the service sets none (as Swarm and Compose: readable by anyone in the container). */
export const DEFAULT_FILE_MODE = 0o444;

/** Where a secret goes when its target is empty or relative (as Swarm). */
const SECRETS_DIR = '/run/secrets';

const PAGE = 4096;
/** Room on each tmpfs beyond its files' pages (inodes and directory entries count against its size too). */
const SLACK_PAGES = 8;

/** An OCI mount entry. */
type OciMount = Record<string, unknown>;

/**
 * Secrets and configs of containerd tasks: each task gets a small tmpfs of its own under the agent's state
 * directory (`<dir>/<taskId>`, mode 0700, private), its files written there with the owner and mode the service
 * asks, and each bind-mounted read-only into the container at its target. Nothing of them reaches the node's disk.
 * The tmpfs goes when the task's container is removed; any left from before (the agent crashed) goes at start:
 * a container still running keeps its own bind mounts of it, so unmounting the node's side takes nothing from it.
 */
export class TaskFileMounts {
  constructor(private readonly dir: string) {}

  /** Makes the task's tmpfs with its files; the OCI mounts that put them at their targets. */
  async mount(taskId: string, files: readonly TaskFileContent[]): Promise<OciMount[]> {
    if (files.length === 0) return [];
    const placed = files.map((f) => ({ ...f, target: fileTarget(f), uid: id(f, 'uid'), gid: id(f, 'gid') }));
    const targets = new Set<string>();
    for (const f of placed) {
      if (targets.has(f.target)) throw new RejectedError(`two secrets or configs are mounted at ${f.target}`);
      targets.add(f.target);
    }
    const where = this.taskDir(taskId);
    mkdirSync(where, { recursive: true, mode: 0o700 });
    if (!this.mounted().has(where)) {
      const pages = files.reduce((n, f) => n + Math.ceil(f.data.length / PAGE), SLACK_PAGES + files.length);
      // Not noexec: a config may be a script the service runs (mode 0555); each bind mount says for itself.
      const options = `size=${pages * PAGE},mode=0700,nosuid,nodev`;
      await run('mount', ['-t', 'tmpfs', '-o', options, 'flotilla-files', where]);
      // Nothing mounted here spreads to other mount namespaces, nor comes back from them.
      await run('mount', ['--make-private', where]);
    }
    return placed.map((f, i) => {
      const file = path.join(where, String(i));
      writeFileSync(file, f.data, { mode: 0o600 });
      chownSync(file, f.uid, f.gid);
      // After the owner: a chown clears set-ID bits, and writeFileSync's mode goes through the umask.
      chmodSync(file, f.ref.mode || DEFAULT_FILE_MODE);
      return {
        destination: f.target,
        type: 'bind',
        source: file,
        options: ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev', ...(f.kind === 'secret' ? ['noexec'] : [])],
      };
    });
  }

  /** Unmounts and removes the task's tmpfs, if it has one. */
  async unmount(taskId: string): Promise<void> {
    const where = this.taskDir(taskId);
    if (this.mounted().has(where)) {
      // A detach if busy: the memory goes once the last user lets go of it.
      await run('umount', [where]).catch(() => run('umount', ['-l', where]));
    }
    rmSync(where, { recursive: true, force: true });
  }

  /** Unmounts and removes the tmpfs of every task but these (after a crash: none is the agent's now). */
  async clean(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    if (!existsSync(this.dir)) return [];
    const left = readdirSync(this.dir).filter((taskId) => !keep.has(taskId));
    for (const taskId of left) await this.unmount(taskId);
    return left;
  }

  /** Tasks with a tmpfs now (tests). */
  tasks(): string[] {
    const prefix = `${this.dir}/`;
    return [...this.mounted()].filter((m) => m.startsWith(prefix)).map((m) => m.slice(prefix.length));
  }

  taskDir(taskId: string): string {
    return path.join(this.dir, taskId);
  }

  /** Mount points on the node now (the agent's own mount namespace). */
  private mounted(): Set<string> {
    const lines = readFileSync('/proc/self/mounts', 'utf8').split('\n');
    // Spaces and the like are octal escapes there.
    return new Set(
      lines.map((l) =>
        (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))),
      ),
    );
  }
}

/**
 * Where the file goes in the container: a secret at /run/secrets/<target>, or /run/secrets/<source> without a
 * target; a config at its target (relative to /), or /<source> without one. Paths that lead out of where they
 * are meant to be are refused.
 */
export function fileTarget(f: Pick<TaskFileContent, 'kind' | 'ref'>): string {
  const given = f.ref.target || f.ref.source;
  const base = f.kind === 'secret' ? SECRETS_DIR : '/';
  const target = path.posix.resolve(base, given);
  const parts = given.split('/');
  if (
    !given ||
    parts.includes('..') ||
    target === '/' ||
    (f.kind === 'secret' && !given.startsWith('/') && !target.startsWith(`${SECRETS_DIR}/`))
  ) {
    throw new RejectedError(`${f.kind} ${f.ref.source} has a target that is not a file path: "${f.ref.target}"`);
  }
  return target;
}

/** The numeric owner the service asks for (Compose's uid/gid are numbers, as strings); root without one. */
function id(f: TaskFileContent, which: 'uid' | 'gid'): number {
  const value = f.ref[which];
  if (!value) return 0;
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffff_fffe) {
    throw new RejectedError(`${f.kind} ${f.ref.source}: ${which} must be a number (got "${value}")`);
  }
  return Number(value);
}
