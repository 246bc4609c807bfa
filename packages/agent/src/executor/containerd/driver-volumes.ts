import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { isNfs, Mount_Type, mountVolumeSpec, nfsServer, type Task, type VolumeMountSpec } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { errorMessage } from '../../error-message.js';
import { RejectedError } from '../executor.js';

const run = promisify(execFile);

/** How long one mount may take: an NFS server out of reach holds mount(2) until its RPC times out. */
const MOUNT_TIMEOUT_MS = 60_000;
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The mount(8) call for a volume: what Docker's local driver passes to mount(2), through util-linux. */
export function mountArgs(v: VolumeMountSpec, dir: string): string[] {
  // -i: no /sbin/mount.<type> helper, the kernel reads the options itself (as mount(2) from Docker's driver does).
  // --source and --target: a device is never read as an option of mount(8) itself.
  return ['-i', '-t', v.type, ...(v.options ? ['-o', v.options] : []), '--source', v.device, '--target', dir];
}

/**
 * Named volumes whose stack gives the local driver `driver_opts` (type, device, o): the node mounts each at the
 * volume's directory when the first task here uses it, and unmounts it when the last one is removed, as Docker's
 * local driver counts its users. Mounts outlive an agent restart (tasks run on): adopted tasks count again, and
 * `clean` unmounts what no task claims.
 */
export class DriverVolumes {
  /** Tasks using each mounted volume directory. */
  private readonly users = new Map<string, Set<string>>();
  /** One mount or unmount at a time: two tasks of one volume starting together mount it once. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly volumesDir: string,
    private readonly log: Logger,
  ) {}

  /** Mounts what the task's driver volumes need (if not mounted yet) and counts the task as a user. */
  acquire(task: Task): Promise<void> {
    const wanted = driverVolumes(task);
    if (wanted.length === 0) return Promise.resolve();
    return this.serial(async () => {
      for (const { name, spec } of wanted) {
        const dir = path.join(this.volumesDir, name);
        if (!isMountPoint(dir)) await this.mount(name, spec, dir);
        const users = this.users.get(dir) ?? new Set();
        users.add(task.id);
        this.users.set(dir, users);
      }
    });
  }

  /** The task is gone: volumes no other task uses are unmounted (failures are logged; `clean` retries). */
  release(taskId: string): Promise<void> {
    return this.serial(async () => {
      for (const [dir, users] of this.users) {
        if (!users.delete(taskId) || users.size > 0) continue;
        this.users.delete(dir);
        await this.unmount(dir);
      }
    });
  }

  /** Unmounts volumes under the volumes directory that no task here uses (left from before an agent restart). */
  clean(): Promise<string[]> {
    return this.serial(async () => {
      const unused = mountPointsUnder(this.volumesDir).filter((dir) => !this.users.has(dir));
      for (const dir of unused) await this.unmount(dir);
      return unused;
    });
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async mount(name: string, spec: VolumeMountSpec, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const resolved = await resolveNfsServer(name, spec);
    const server = isNfs(spec.type) ? nfsServer(spec.options) : undefined;
    try {
      await run('mount', mountArgs(resolved, dir), { timeout: MOUNT_TIMEOUT_MS });
    } catch (err) {
      const out = (err as { stderr?: string }).stderr?.trim() || errorMessage(err);
      const from = server ? ` from server ${server}` : '';
      // A failed mount is the task's failure, retried by its restart policy: the server may come back.
      throw new Error(
        `volume ${name}: mounting ${spec.type} ${spec.device}${from} at ${dir} failed: ${out}; check driver_opts and that the node can reach it`,
      );
    }
    this.log.info({ volume: name, type: spec.type }, 'volume mounted from its driver_opts');
  }

  private async unmount(dir: string): Promise<void> {
    try {
      await run('umount', [dir], { timeout: MOUNT_TIMEOUT_MS });
    } catch (err) {
      // Still busy (a process of the node in it): detached now, gone when the last user lets go.
      await run('umount', ['-l', dir], { timeout: MOUNT_TIMEOUT_MS }).catch((lazyErr: unknown) =>
        this.log.warn({ dir, err: errorMessage(err), lazy: errorMessage(lazyErr) }, 'volume not unmounted'),
      );
    }
  }
}

/** The task's named volumes that the local driver mounts from driver_opts. */
function driverVolumes(task: Task): { name: string; spec: VolumeMountSpec }[] {
  const out = new Map<string, VolumeMountSpec>();
  for (const m of task.spec?.mounts ?? []) {
    if (m.type !== Mount_Type.TYPE_VOLUME || !m.source) continue;
    const spec = mountVolumeSpec(m);
    if (!spec) continue;
    if (!VOLUME_NAME.test(m.source) || m.source.includes('..')) {
      throw new RejectedError(`the volume mounted at ${m.target} needs a name of letters, digits, "_", "." and "-"`);
    }
    out.set(m.source, spec);
  }
  return [...out].map(([name, spec]) => ({ name, spec }));
}

/** The kernel's NFS client takes an address in addr=, not a name: a name is resolved first, as Docker does. */
export async function resolveNfsServer(name: string, spec: VolumeMountSpec): Promise<VolumeMountSpec> {
  const server = isNfs(spec.type) ? nfsServer(spec.options) : undefined;
  if (!server || isIP(server)) return spec;
  try {
    const { address } = await lookup(server);
    return { ...spec, options: spec.options.replace(`addr=${server}`, `addr=${address}`) };
  } catch (err) {
    throw new Error(`volume ${name}: the NFS server ${server} does not resolve: ${errorMessage(err)}`);
  }
}

/** Mount points of this mount namespace, from /proc/self/mountinfo (octal escapes undone). */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
}

function isMountPoint(dir: string): boolean {
  return mountPoints().includes(dir);
}

/** Mount points directly under `dir` (volume directories). */
function mountPointsUnder(dir: string): string[] {
  return [...new Set(mountPoints().filter((p) => path.dirname(p) === dir))];
}
