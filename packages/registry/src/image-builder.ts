import { sha256Digest } from './content-digest.js';
import { buildLayer, type ImageFile } from './layer-archive.js';
import { type Descriptor, MediaType, type Platform } from './media-types.js';
import { hostPlatform, normalizePlatform } from './platform.js';

/** Bytes and the descriptor that points at them. */
export interface ContentBlob {
  descriptor: Descriptor;
  bytes: Buffer;
}

/** A built OCI image, ready to push: its manifest, config and layer blobs. */
export interface OciImage {
  platform: Platform;
  /** The manifest; its descriptor's digest is the image's digest. */
  manifest: ContentBlob;
  config: ContentBlob;
  layers: ContentBlob[];
}

/** The runtime settings of the image (the OCI config's `config` object). */
export interface ImageConfigOptions {
  entrypoint?: string[];
  cmd?: string[];
  /** `KEY=value` entries. PATH is set to Docker's default unless given here. */
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
}

export interface BuildImageOptions {
  /** A host directory to copy in as `/` (symlinks and modes kept, owners made root). */
  rootfs?: string;
  /** Entries to add (over the rootfs, when both are given). */
  files?: readonly ImageFile[];
  config?: ImageConfigOptions;
  /** Defaults to the platform of this machine. */
  platform?: Platform;
  /** The config's `created` time; fixed by default so the same inputs give the same digest. */
  created?: Date;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Builds a one-layer OCI image (gzip'd tar layer, OCI config with the layer's diff_id, OCI manifest). Output is
 * deterministic: same files, config and platform give the same digest.
 */
export async function buildImage(options: BuildImageOptions): Promise<OciImage> {
  const platform = normalizePlatform(options.platform ?? hostPlatform());
  const layer = await buildLayer({ rootfs: options.rootfs, files: options.files });
  const created = (options.created ?? new Date(0)).toISOString().replace('.000Z', 'Z');

  const settings = options.config ?? {};
  const env = settings.env ?? [];
  const runtime = {
    Env: env.some((e) => e.startsWith('PATH=')) ? env : [DEFAULT_PATH, ...env],
    ...(settings.entrypoint && { Entrypoint: settings.entrypoint }),
    ...(settings.cmd && { Cmd: settings.cmd }),
    ...(settings.workingDir && { WorkingDir: settings.workingDir }),
    ...(settings.user && { User: settings.user }),
    ...(settings.labels && { Labels: sortKeys(settings.labels) }),
  };
  const config = json({
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant && { variant: platform.variant }),
    config: runtime,
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: 'flotilla buildImage' }],
  });
  const configBlob = blob(MediaType.ociConfig, config);
  const layerBlob = blob(MediaType.ociLayerGzip, layer.gzipped);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configBlob.descriptor,
    layers: [layerBlob.descriptor],
  });
  return { platform, manifest: blob(MediaType.ociManifest, manifest), config: configBlob, layers: [layerBlob] };
}

/** An OCI image index over several images, each entry labelled with its image's platform. */
export function buildImageIndex(images: readonly OciImage[]): ContentBlob {
  const index = json({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((image) => ({ ...image.manifest.descriptor, platform: image.platform })),
  });
  return blob(MediaType.ociIndex, index);
}

function blob(mediaType: string, bytes: Buffer): ContentBlob {
  return { descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length }, bytes };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
