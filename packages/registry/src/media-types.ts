import { Code, FlotillaError } from '@flotilla/api';
import { isDigest } from './image-reference.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** What the client asks for: both image manifests and both index formats, OCI and Docker schema 2. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(', ');

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A pointer to content by digest, as in OCI descriptors. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ManifestKind = 'manifest' | 'index';

const KINDS: Record<string, ManifestKind> = {
  [MediaType.ociManifest]: 'manifest',
  [MediaType.dockerManifest]: 'manifest',
  [MediaType.ociIndex]: 'index',
  [MediaType.dockerManifestList]: 'index',
};

/**
 * Which kind of manifest the bytes are, from the Content-Type or else the document's own mediaType field (some
 * registries answer OCI content as application/json). Schema 1 and anything else are refused.
 */
export function manifestKind(contentType: string | undefined, document: unknown, what: string): ManifestKind {
  const header = contentType?.split(';')[0]?.trim();
  const field = isObject(document) && typeof document.mediaType === 'string' ? document.mediaType : undefined;
  const kind = (header && KINDS[header]) || (field && KINDS[field]);
  if (kind) return kind;
  if (!field && isObject(document) && document.schemaVersion === 2) {
    // An OCI document may leave mediaType out; its shape tells which it is.
    if (Array.isArray(document.manifests)) return 'index';
    if (isObject(document.config) && Array.isArray(document.layers)) return 'manifest';
  }
  const type = field ?? header ?? 'unknown';
  const schema1 = isObject(document) && document.schemaVersion === 1;
  throw new FlotillaError(
    Code.Unimplemented,
    `${what} is ${schema1 ? 'a Docker schema 1 manifest' : `of type "${type}"`}, which Flotilla cannot pull: ` +
      'push the image again with a current build tool (OCI or Docker schema 2 manifests)',
    { reason: 'unsupported-media-type' },
  );
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${what} is not valid JSON: the registry returned something else`,
      { cause: err, reason: 'rejected' },
    );
  }
}

/** Checks the fields the client relies on, so a malformed manifest fails here with a clear message. */
export function toImageManifest(document: unknown, what: string): ImageManifest {
  if (!isObject(document) || document.schemaVersion !== 2 || !Array.isArray(document.layers)) {
    throw malformed(what, 'it has no schemaVersion 2 and layers list');
  }
  const config = toDescriptor(document.config, `${what} config`);
  const layers = document.layers.map((layer, i) => toDescriptor(layer, `${what} layer ${i}`));
  return { ...(document as object), schemaVersion: 2, config, layers } as ImageManifest;
}

export function toImageIndex(document: unknown, what: string): ImageIndex {
  if (!isObject(document) || document.schemaVersion !== 2 || !Array.isArray(document.manifests)) {
    throw malformed(what, 'it has no schemaVersion 2 and manifests list');
  }
  const manifests = document.manifests.map((m, i) => toDescriptor(m, `${what} entry ${i}`));
  return { ...(document as object), schemaVersion: 2, manifests } as ImageIndex;
}

export function toDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw malformed(what, 'it is not an object');
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string') throw malformed(what, 'mediaType is missing');
  if (typeof digest !== 'string' || !isDigest(digest)) throw malformed(what, `digest "${String(digest)}" is invalid`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed(what, 'size is invalid');
  return value as unknown as Descriptor;
}

function malformed(what: string, why: string): FlotillaError {
  return new FlotillaError(
    Code.FailedPrecondition,
    `${what} is malformed (${why}): the image on the registry is broken`,
    { reason: 'rejected' },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
