import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { FlotillaError } from '@flotilla/api';
import { extract, type Headers } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from './content-digest.js';
import { buildImage, buildImageIndex, type OciImage } from './image-builder.js';
import type { ImageFile } from './layer-archive.js';
import { MediaType } from './media-types.js';

interface TarEntry {
  header: Headers;
  content: string;
}

async function entriesOf(image: OciImage): Promise<Map<string, TarEntry>> {
  const tar = gunzipSync(image.layers[0]!.bytes);
  const entries = new Map<string, TarEntry>();
  const reader = extract();
  Readable.from([tar]).pipe(reader);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk);
    entries.set(entry.header.name, { header: entry.header, content: Buffer.concat(chunks).toString() });
  }
  return entries;
}

const files: ImageFile[] = [
  { type: 'file', path: '/bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { type: 'symlink', path: '/bin/alias', target: 'tool' },
  { type: 'symlink', path: '/usr/bin/abs', target: '/bin/tool' },
  { type: 'directory', path: '/tmp', mode: 0o1777 },
  { type: 'file', path: '/etc/motd', content: 'hello' },
];
const platform = { os: 'linux', architecture: 'amd64' };

describe('buildImage', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'flotilla-image-builder-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same digest for the same inputs, and another for other inputs', async () => {
    const a = await buildImage({ files, platform, config: { cmd: ['sh'] } });
    const b = await buildImage({ files: [...files].reverse(), platform, config: { cmd: ['sh'] } });
    expect(b.manifest.descriptor.digest).toBe(a.manifest.descriptor.digest);
    expect(b.manifest.bytes.equals(a.manifest.bytes)).toBe(true);
    const c = await buildImage({ files, platform, config: { cmd: ['true'] } });
    expect(c.manifest.descriptor.digest).not.toBe(a.manifest.descriptor.digest);
    expect(c.layers[0]!.descriptor.digest).toBe(a.layers[0]!.descriptor.digest);
  });

  it('writes an OCI manifest and a config whose diff_id is the uncompressed layer hash', async () => {
    const image = await buildImage({
      files,
      platform: { os: 'linux', architecture: 'aarch64' },
      config: {
        entrypoint: ['/bin/tool'],
        cmd: ['x'],
        env: ['A=1'],
        workingDir: '/tmp',
        user: '0',
        labels: { b: '2', a: '1' },
      },
    });
    const manifest = JSON.parse(image.manifest.bytes.toString());
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: image.config.descriptor,
      layers: [image.layers[0]!.descriptor],
    });
    expect(image.layers[0]!.descriptor.mediaType).toBe(MediaType.ociLayerGzip);
    expect(image.layers[0]!.descriptor.digest).toBe(sha256Digest(image.layers[0]!.bytes));
    const config = JSON.parse(image.config.bytes.toString());
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [sha256Digest(gunzipSync(image.layers[0]!.bytes))] });
    expect(config).toMatchObject({ os: 'linux', architecture: 'arm64', created: '1970-01-01T00:00:00Z' });
    expect(config.config).toEqual({
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1'],
      Entrypoint: ['/bin/tool'],
      Cmd: ['x'],
      WorkingDir: '/tmp',
      User: '0',
      Labels: { a: '1', b: '2' },
    });
    expect(image.platform).toEqual({ os: 'linux', architecture: 'arm64' });
  });

  it('keeps symlinks and modes, owns everything by root, and adds parent directories', async () => {
    const image = await buildImage({
      files: [...files, { type: 'host-file', path: '/opt/data/copy', hostPath: writeHostFile(dir, 'x', 0o640) }],
      platform,
    });
    const entries = await entriesOf(image);
    expect([...entries.keys()]).toEqual([
      'bin/', 'bin/alias', 'bin/tool', 'etc/', 'etc/motd', 'opt/', 'opt/data/', 'opt/data/copy', 'tmp/', 'usr/',
      'usr/bin/', 'usr/bin/abs',
    ]); // biome-ignore format: one path per line would hide the order
    expect(entries.get('bin/tool')).toMatchObject({
      header: { type: 'file', mode: 0o755 },
      content: '#!/bin/sh\necho hi\n',
    });
    expect(entries.get('bin/alias')?.header).toMatchObject({ type: 'symlink', linkname: 'tool' });
    expect(entries.get('usr/bin/abs')?.header).toMatchObject({ type: 'symlink', linkname: '/bin/tool' });
    expect(entries.get('tmp/')?.header).toMatchObject({ type: 'directory', mode: 0o1777 });
    expect(entries.get('usr/')?.header).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(entries.get('etc/motd')?.header.mode).toBe(0o644);
    expect(entries.get('opt/data/copy')).toMatchObject({ header: { mode: 0o640 }, content: 'x' });
    for (const { header } of entries.values()) {
      expect(header).toMatchObject({ uid: 0, gid: 0, mtime: new Date(0) });
    }
  });

  it('copies a root filesystem directory with its symlinks and modes; listed files override it', async () => {
    mkdirSync(path.join(dir, 'rootfs/bin'), { recursive: true });
    writeHostFile(path.join(dir, 'rootfs/bin'), 'app', 0o750, 'app');
    symlinkSync('app', path.join(dir, 'rootfs/bin/link'));
    writeHostFile(path.join(dir, 'rootfs'), 'motd', 0o600, 'from rootfs');
    const image = await buildImage({
      rootfs: path.join(dir, 'rootfs'),
      files: [{ type: 'file', path: '/motd', content: 'from files' }],
      platform,
    });
    const entries = await entriesOf(image);
    expect([...entries.keys()]).toEqual(['bin/', 'bin/app', 'bin/link', 'motd']);
    expect(entries.get('bin/app')).toMatchObject({ header: { mode: 0o750, uid: 0 }, content: 'app' });
    expect(entries.get('bin/link')?.header).toMatchObject({ type: 'symlink', linkname: 'app' });
    expect(entries.get('motd')?.content).toBe('from files');
  });

  it.each([
    [[{ type: 'file', path: '/../etc/x', content: '' }], 'without ".."'],
    [[{ type: 'host-file', path: '/x', hostPath: '/nonexistent/flotilla' }], '/nonexistent/flotilla'],
    [
      [
        { type: 'symlink', path: '/bin', target: 'usr/bin' },
        { type: 'file', path: '/bin/sh', content: '' },
      ],
      'which is a symlink',
    ],
  ] as [ImageFile[], string][])('refuses input that cannot become an image (%#)', async (bad, message) => {
    const err = await buildImage({ files: bad, platform }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('invalid-image');
    expect((err as FlotillaError).message).toContain(message);
  });

  it('makes an index that labels each image with its platform', async () => {
    const amd = await buildImage({ files, platform });
    const arm = await buildImage({ files, platform: { os: 'linux', architecture: 'arm64' } });
    const index = buildImageIndex([amd, arm]);
    expect(JSON.parse(index.bytes.toString()).manifests).toEqual([
      { ...amd.manifest.descriptor, platform },
      { ...arm.manifest.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
    ]);
    expect(index.descriptor).toEqual({
      mediaType: MediaType.ociIndex,
      digest: sha256Digest(index.bytes),
      size: index.bytes.length,
    });
  });
});

function writeHostFile(dir: string, name: string, mode: number, content = name): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode });
  return file;
}
