import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Code, FlotillaError } from '@flotilla/api';
import { pack } from 'tar-stream';
import { sha256Digest } from './content-digest.js';

/** One entry of an image's filesystem. Paths are absolute in the image (`/bin/sh`); owners default to root. */
export type ImageFile =
  | { type: 'file'; path: string; content: string | Uint8Array; mode?: number; uid?: number; gid?: number }
  /** A regular file copied from the host; its mode is the host file's unless given. Symlinks on the host are followed. */
  | { type: 'host-file'; path: string; hostPath: string; mode?: number; uid?: number; gid?: number }
  | { type: 'directory'; path: string; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string; uid?: number; gid?: number };

export interface LayerArchive {
  /** The gzip'd tar: the layer blob. */
  gzipped: Buffer;
  /** sha256 of `gzipped`: the layer's digest. */
  digest: string;
  /** sha256 of the uncompressed tar: the diff_id in the image config. */
  diffId: string;
}

interface Entry {
  kind: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  content?: () => Promise<Buffer>;
  target?: string;
}

// A fixed time for every entry and for the gzip header, so the same inputs give the same digest.
const EPOCH = new Date(0);
const gzipAsync = promisify(gzip);

/**
 * Makes one layer from a host directory and/or a list of entries (entries win over the directory's files at the
 * same path). Missing parent directories are added (0755, root). The whole layer is held in memory: this is for
 * the small images that tests and the dev cluster build, not for large root filesystems.
 */
export async function buildLayer(options: { rootfs?: string; files?: readonly ImageFile[] }): Promise<LayerArchive> {
  const entries = new Map<string, Entry>();
  if (options.rootfs !== undefined) await addDirectory(entries, options.rootfs, '');
  for (const file of options.files ?? []) entries.set(imagePath(file.path), await toEntry(file));
  addParents(entries);

  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk);
  })();
  // Lexical order puts every directory before what it holds (a parent is a prefix of its children's paths).
  for (const name of [...entries.keys()].sort()) {
    const entry = entries.get(name)!;
    const content = entry.content ? await entry.content() : undefined;
    await new Promise<void>((resolve, reject) => {
      tar.entry(
        {
          // Directories end in a slash, as in the layers Docker and BuildKit write.
          name: entry.kind === 'directory' ? `${name}/` : name,
          type: entry.kind,
          mode: entry.mode,
          uid: entry.uid,
          gid: entry.gid,
          uname: '',
          gname: '',
          mtime: EPOCH,
          size: content?.length ?? 0,
          linkname: entry.target,
        },
        content,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
  tar.finalize();
  await collected;
  const uncompressed = Buffer.concat(chunks);
  // zlib's gzip header carries no file name and a zero mtime, so the output depends only on the input bytes.
  const gzipped = await gzipAsync(uncompressed, { level: 6 });
  return { gzipped, digest: sha256Digest(gzipped), diffId: sha256Digest(uncompressed) };
}

/** `/usr//bin/` → `usr/bin`; refuses `..` and empty paths (a layer must not write outside the root). */
function imagePath(path: string): string {
  const normalized = posix.normalize(`/${path}`).replace(/^\/+|\/+$/g, '');
  if (normalized.length === 0 || path.split('/').includes('..')) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `image path "${path}" is not usable: give an absolute path inside the image, without ".."`,
      { reason: 'invalid-image' },
    );
  }
  return normalized;
}

async function toEntry(file: ImageFile): Promise<Entry> {
  const owner = { uid: file.uid ?? 0, gid: file.gid ?? 0 };
  switch (file.type) {
    case 'file': {
      const bytes = typeof file.content === 'string' ? Buffer.from(file.content) : Buffer.from(file.content);
      return { kind: 'file', mode: file.mode ?? 0o644, ...owner, content: async () => bytes };
    }
    case 'host-file': {
      const info = await stat(file.hostPath).catch((err: unknown) => {
        throw new FlotillaError(
          Code.InvalidArgument,
          `cannot add ${file.hostPath} to the image as ${file.path}: ${(err as Error).message}; check that it exists`,
          { cause: err, reason: 'invalid-image' },
        );
      });
      if (!info.isFile()) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `${file.hostPath} is not a regular file: give a file for ${file.path}`,
          { reason: 'invalid-image' },
        );
      }
      return { kind: 'file', mode: file.mode ?? info.mode & 0o7777, ...owner, content: () => readFile(file.hostPath) };
    }
    case 'directory':
      return { kind: 'directory', mode: file.mode ?? 0o755, ...owner };
    case 'symlink':
      return { kind: 'symlink', mode: 0o777, ...owner, target: file.target };
  }
}

/** Walks a host directory without following symlinks; everything in it is owned by root in the image. */
async function addDirectory(entries: Map<string, Entry>, root: string, relative: string): Promise<void> {
  const here = relative ? posix.join(root, relative) : root;
  let names: string[];
  try {
    names = await readdir(here);
  } catch (err) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `cannot read root filesystem directory ${here}: ${(err as Error).message}`,
      { cause: err, reason: 'invalid-image' },
    );
  }
  for (const name of names.sort()) {
    const rel = relative ? `${relative}/${name}` : name;
    const hostPath = posix.join(root, rel);
    const info = await lstat(hostPath);
    const mode = info.mode & 0o7777;
    if (info.isSymbolicLink()) {
      entries.set(rel, { kind: 'symlink', mode: 0o777, uid: 0, gid: 0, target: await readlink(hostPath) });
    } else if (info.isDirectory()) {
      entries.set(rel, { kind: 'directory', mode, uid: 0, gid: 0 });
      await addDirectory(entries, root, rel);
    } else if (info.isFile()) {
      entries.set(rel, { kind: 'file', mode, uid: 0, gid: 0, content: () => readFile(hostPath) });
    } else {
      throw new FlotillaError(
        Code.InvalidArgument,
        `${hostPath} is a device, socket or FIFO, which the image builder does not copy: remove it from the root filesystem`,
        { reason: 'invalid-image' },
      );
    }
  }
}

function addParents(entries: Map<string, Entry>): void {
  for (const name of [...entries.keys()]) {
    for (let parent = posix.dirname(name); parent !== '.'; parent = posix.dirname(parent)) {
      const existing = entries.get(parent);
      if (existing === undefined) {
        entries.set(parent, { kind: 'directory', mode: 0o755, uid: 0, gid: 0 });
      } else if (existing.kind !== 'directory') {
        throw new FlotillaError(
          Code.InvalidArgument,
          `/${name} is inside /${parent}, which is a ${existing.kind}, not a directory: fix the image's file list`,
          { reason: 'invalid-image' },
        );
      }
    }
  }
}
