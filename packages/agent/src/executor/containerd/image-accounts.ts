import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, mkdtempSync, openSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Containerd, type Mount, snapshotsApi, withLease } from '@flotilla/containerd';
import type { LocalImage } from './image-store.js';
import type { AccountFiles } from './user-lookup.js';

const run = promisify(execFile);
/** The largest /etc/passwd or /etc/group read from an image. */
const MAX_FILE = 1024 * 1024;

/**
 * The images' /etc/passwd and /etc/group, read through a read-only view of their layers mounted for a moment
 * (cached per image): what resolves `user: name` as Docker does.
 */
export class ImageAccounts {
  private readonly cache = new Map<string, Promise<AccountFiles>>();

  constructor(
    private readonly c: Containerd,
    /** Where the views are mounted for the moment of reading (a directory of the agent's). */
    private readonly stateDir: string,
    private readonly snapshotter: string,
  ) {}

  get(image: LocalImage): Promise<AccountFiles> {
    let files = this.cache.get(image.chainId);
    if (!files) {
      files = withLease(this.c, (lease) => this.read(image.chainId, lease));
      this.cache.set(image.chainId, files);
      // Not cached when it failed, so the next task tries again; this caller gets the error through `files`.
      files.catch(() => this.cache.delete(image.chainId));
    }
    return files;
  }

  private async read(chainId: string, lease: string): Promise<AccountFiles> {
    const key = `accounts-${randomBytes(6).toString('hex')}`;
    const view = await this.c.call<snapshotsApi.ViewSnapshotResponse>(
      (md, o, cb) =>
        this.c.snapshots.view(
          snapshotsApi.ViewSnapshotRequest.fromPartial({ snapshotter: this.snapshotter, key, parent: chainId }),
          md,
          o,
          cb,
        ),
      { lease, what: "reading the image's users" },
    );
    const target = mkdtempSync(path.join(this.stateDir, 'view-'));
    try {
      return await readMounted(view.mounts, target);
    } finally {
      // Not recursive: if the unmount failed, the image's files must not be deleted through the mount point.
      try {
        rmdirSync(target);
      } catch {
        // still mounted: left for the operator rather than risked
      }
      await this.c
        .call((md, o, cb) =>
          this.c.snapshots.remove(
            snapshotsApi.RemoveSnapshotRequest.fromPartial({ snapshotter: this.snapshotter, key }),
            md,
            o,
            cb,
          ),
        )
        // Safe to leave: the view was made under the lease, so containerd's garbage collector takes it when
        // the lease ends.
        .catch(() => undefined);
    }
  }
}

/** Mounts the view's layers read-only at target, reads the account files, and unmounts. */
async function readMounted(mounts: Mount[], target: string): Promise<AccountFiles> {
  for (const m of mounts) {
    // A one-layer view is a bind mount, which mount(8) takes as an option rather than a type.
    const options = [...m.options, 'ro'];
    const args = m.type === 'bind' ? ['-o', [...options, 'bind'].join(',')] : ['-t', m.type, '-o', options.join(',')];
    await run('mount', [...args, m.source, target]);
  }
  try {
    return { passwd: readImageFile(target, 'passwd'), group: readImageFile(target, 'group') };
  } finally {
    // A mount that would not go keeps its mount point, which the caller then leaves in place (not removed).
    await run('umount', [target]).catch(() => undefined);
  }
}

/**
 * /etc/<name> of a mounted image, read on the node with care: the image controls these paths, so neither /etc nor
 * the file may be a symlink (it would be followed on the node, not in the image), the file must be a regular
 * file (a FIFO or device would block or never end), and it is capped at 1 MiB.
 */
function readImageFile(root: string, name: string): string | undefined {
  const etc = path.join(root, 'etc');
  const file = path.join(etc, name);
  try {
    if (!lstatSync(etc).isDirectory()) return undefined;
    const stat = lstatSync(file);
    if (!stat.isFile() || stat.size > MAX_FILE) return undefined;
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      return readFileSync(fd, 'utf8').slice(0, MAX_FILE);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Missing or unreadable is as if the image had no such file: a user name then is not found, and says so.
    return undefined;
  }
}
