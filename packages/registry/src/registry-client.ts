import { Readable } from 'node:stream';
import { Code, FlotillaError } from '@flotilla/api';
import { matchesDigest, sha256Digest, verifyStream } from './content-digest.js';
import { type HttpResponse, HttpTransport, readBody } from './http-transport.js';
import { buildImageIndex, type ContentBlob, type OciImage } from './image-builder.js';
import { formatImageReference, type ImageReference, parseImageReference } from './image-reference.js';
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  type ManifestKind,
  manifestKind,
  type Platform,
  parseJson,
  toImageIndex,
  toImageManifest,
} from './media-types.js';
import { formatPlatform, normalizePlatform, platformMatches } from './platform.js';
import { RegistryAuth } from './registry-auth.js';
import type { RegistryCredentials } from './registry-credentials.js';
import { RegistryHttp } from './registry-http.js';

export interface RegistryClientOptions {
  /** Logins by registry host (see loadRegistryCredentials). */
  credentials?: RegistryCredentials;
  /** Registries that may be reached over plain HTTP (HTTPS is tried first). Loopback registries always may. */
  insecureRegistries?: readonly string[];
  /** PEM CA certificate(s) to trust for HTTPS registries, in addition to the system's. */
  ca?: string | Buffer;
  /** Socket idle timeout per request; default 30 s. */
  timeoutMs?: number;
  /** Largest manifest or index accepted; default 4 MiB. */
  maxManifestBytes?: number;
  /** Largest blob `fetchBlobBytes` holds in memory (image configs); default 16 MiB. */
  maxConfigBytes?: number;
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** The manifest to pull for one platform, with what is needed to fetch its content. */
export interface ResolvedImage {
  reference: ImageReference;
  /** Digest of the chosen image manifest (not of the index). */
  digest: string;
  mediaType: string;
  manifest: Buffer;
  config: Descriptor;
  /** The config blob, already fetched and verified (resolve reads it to check the platform). */
  configBytes: Buffer;
  layers: Descriptor[];
  /** The platform the image's config declares. */
  platform: Platform;
  /** The index or manifest list the manifest was chosen from, when the reference named one. */
  index?: { digest: string; mediaType: string; bytes: Buffer };
}

interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  kind: ManifestKind;
  document: unknown;
}

type RefInput = string | ImageReference;

const MAX_REDIRECTS = 5;

/**
 * A client for the OCI distribution API: resolves a reference to the manifest for a platform, streams verified
 * blobs, and pushes images. Pulls check every manifest and blob against its digest; nothing unverified is
 * returned as good.
 */
export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly http: RegistryHttp;
  private readonly maxManifestBytes: number;
  private readonly maxConfigBytes: number;

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new HttpTransport({
      ca: options.ca,
      timeoutMs: options.timeoutMs ?? 30_000,
      userAgent: options.userAgent ?? 'flotilla-registry/0.1',
    });
    const auth = new RegistryAuth(this.transport, options.credentials);
    this.http = new RegistryHttp(this.transport, auth, options.insecureRegistries ?? []);
    this.maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024;
    this.maxConfigBytes = options.maxConfigBytes ?? 16 * 1024 * 1024;
  }

  /**
   * The image manifest to use on `platform`: follows an index or manifest list to the matching entry, or checks
   * a single manifest's config against the platform. Pulls by tag or by digest (a digest is verified).
   */
  async resolve(input: RefInput, platform: Platform, options: CallOptions = {}): Promise<ResolvedImage> {
    const ref = toReference(input);
    const wanted = normalizePlatform(platform);
    const top = await this.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', options);
    let chosen = top;
    let index: ResolvedImage['index'];
    if (top.kind === 'index') {
      index = { digest: top.digest, mediaType: top.mediaType, bytes: top.bytes };
      const entries = toImageIndex(top.document, `the index of ${ref.name}`).manifests;
      const match = entries.find((e) => e.platform && platformMatches(wanted, e.platform));
      if (!match) {
        // Attestation entries (unknown/unknown) are not images anyone could pick.
        const images = entries.flatMap((e) => (e.platform && e.platform.os !== 'unknown' ? [e.platform] : []));
        throw noPlatform(ref, wanted, images);
      }
      chosen = await this.fetchManifest(ref, match.digest, options);
      if (chosen.kind !== 'manifest') {
        throw new FlotillaError(
          Code.Unimplemented,
          `the ${formatPlatform(wanted)} entry of ${ref.name} is another index, not an image manifest: ` +
            'push the image with a flat index',
          { reason: 'unsupported-media-type' },
        );
      }
    }
    const manifest = toImageManifest(chosen.document, `the manifest of ${ref.name}`);
    const configBytes = await this.fetchBlobBytes(ref, manifest.config, options);
    const config = parseJson(configBytes, `the config of ${ref.name}`) as Partial<Platform> | null;
    if (typeof config !== 'object' || config === null) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `the config of ${ref.name} is not a JSON object: the image on the registry is broken`,
        { reason: 'rejected' },
      );
    }
    const declared = normalizePlatform({
      os: String(config.os ?? 'unknown'),
      architecture: String(config.architecture ?? 'unknown'),
      variant: typeof config.variant === 'string' ? config.variant : undefined,
    });
    if (!index && !platformMatches(wanted, declared)) throw noPlatform(ref, wanted, [declared]);
    return {
      reference: ref,
      digest: chosen.digest,
      mediaType: chosen.mediaType,
      manifest: chosen.bytes,
      config: manifest.config,
      configBytes,
      layers: manifest.layers,
      platform: declared,
      index,
    };
  }

  /**
   * What a reference names on the registry now: the digest of the manifest or index its tag points to (the one
   * the registry serves, checked against the bytes), not of one platform's manifest, so a reference pinned to it
   * still lets every node pick its own platform. A reference that already has a digest is checked to exist.
   */
  async digest(input: RefInput, options: CallOptions = {}): Promise<{ digest: string; mediaType: string }> {
    const ref = toReference(input);
    const top = await this.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', options);
    return { digest: top.digest, mediaType: top.mediaType };
  }

  /**
   * Streams a blob, verifying size and digest as it goes; the stream fails with `digest-mismatch` at the end if
   * the content was wrong, so treat the bytes as unverified until it ends cleanly.
   */
  async fetchBlob(input: RefInput, descriptor: Descriptor, options: CallOptions = {}): Promise<Readable> {
    const ref = toReference(input);
    const what = `blob ${descriptor.digest} of ${ref.name}`;
    let res = await this.http.request(ref, {
      method: 'GET',
      target: `/v2/${ref.repository}/blobs/${descriptor.digest}`,
      signal: options.signal,
    });
    // Registries with object storage redirect blob downloads; the storage URL carries its own signature, so the
    // registry's Authorization header must not follow it to another host.
    for (let hops = 0; isRedirect(res.status); hops++) {
      const location = res.headers.location;
      res.body.resume();
      if (!location || hops >= MAX_REDIRECTS) {
        throw new FlotillaError(
          Code.Unavailable,
          `${what}: too many or broken redirects from the registry; retry later`,
          { reason: 'unavailable' },
        );
      }
      const url = redirectTarget(location, res.url, what);
      res = await this.transport
        .send({ method: 'GET', url, signal: options.signal })
        .catch((err: unknown) => Promise.reject(redirectFailure(err)));
    }
    if (res.status !== 200) {
      throw await this.http.failure(res, what, 'the image on the registry is incomplete; push it again');
    }
    return Readable.from(verifyStream(res.body, descriptor, what), { objectMode: false });
  }

  /** A whole small blob (an image config), verified; refuses blobs over the configured limit. */
  async fetchBlobBytes(input: RefInput, descriptor: Descriptor, options: CallOptions = {}): Promise<Buffer> {
    const ref = toReference(input);
    if (descriptor.size > this.maxConfigBytes) {
      throw new FlotillaError(
        Code.ResourceExhausted,
        `blob ${descriptor.digest} of ${ref.name} is ${descriptor.size} bytes, more than the ${this.maxConfigBytes} ` +
          'this client holds in memory: stream it with fetchBlob',
        { reason: 'too-large' },
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await this.fetchBlob(ref, descriptor, options)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Pushes an image's blobs (skipping those already there) and then its manifest; returns the manifest digest. */
  async pushImage(input: RefInput, image: OciImage, options: CallOptions = {}): Promise<string> {
    const ref = toReference(input);
    for (const content of [image.config, ...image.layers]) await this.pushBlob(ref, content, options);
    return this.pushManifest(ref, image.manifest, options);
  }

  /**
   * Pushes several images (one per platform) and an OCI index over them under the reference's tag; returns the
   * index digest.
   */
  async pushIndex(input: RefInput, images: readonly OciImage[], options: CallOptions = {}): Promise<string> {
    const ref = toReference(input);
    for (const image of images) {
      await this.pushImage(withDigest(ref, image.manifest.descriptor.digest), image, options);
    }
    return this.pushManifest(ref, buildImageIndex(images), options);
  }

  /** Uploads one blob unless the repository has it already (monolithic POST + PUT). */
  async pushBlob(input: RefInput, content: ContentBlob, options: CallOptions = {}): Promise<void> {
    const ref = toReference(input);
    const { digest } = content.descriptor;
    const what = `uploading blob ${digest} to ${ref.name}`;
    const head = await this.http.request(ref, {
      method: 'HEAD',
      target: `/v2/${ref.repository}/blobs/${digest}`,
      push: true,
      signal: options.signal,
    });
    head.body.resume();
    if (head.status === 200) return;
    const started = await this.http.request(ref, {
      method: 'POST',
      target: `/v2/${ref.repository}/blobs/uploads/`,
      push: true,
      signal: options.signal,
    });
    if (started.status !== 202 || !started.headers.location) {
      throw await this.http.failure(started, what, 'check that the repository name is right');
    }
    started.body.resume();
    const location = new URL(started.headers.location, started.url);
    location.searchParams.set('digest', digest);
    const put = await this.http.request(ref, {
      method: 'PUT',
      target: location.toString(),
      headers: { 'content-type': 'application/octet-stream' },
      body: content.bytes,
      push: true,
      signal: options.signal,
    });
    if (put.status !== 201) throw await this.http.failure(put, what, 'the upload session expired; push again');
    put.body.resume();
  }

  /** Puts a manifest or index under the reference's tag (or its digest when it has no tag); returns its digest. */
  async pushManifest(input: RefInput, content: ContentBlob, options: CallOptions = {}): Promise<string> {
    const ref = toReference(input);
    const { digest, mediaType } = content.descriptor;
    const res = await this.http.request(ref, {
      method: 'PUT',
      target: `/v2/${ref.repository}/manifests/${ref.tag ?? digest}`,
      headers: { 'content-type': mediaType },
      body: content.bytes,
      push: true,
      signal: options.signal,
    });
    if (res.status !== 201) {
      throw await this.http.failure(
        res,
        `pushing manifest ${digest} to ${ref.name}`,
        'push the blobs and the images it refers to first',
      );
    }
    res.body.resume();
    return digest;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.transport.close();
  }

  private async fetchManifest(ref: ImageReference, target: string, options: CallOptions): Promise<FetchedManifest> {
    const byDigest = target.includes(':');
    const name = byDigest ? withDigest(ref, target).name : ref.name;
    const res = await this.http.request(ref, {
      method: 'GET',
      target: `/v2/${ref.repository}/manifests/${target}`,
      headers: { accept: MANIFEST_ACCEPT },
      signal: options.signal,
    });
    if (res.status !== 200) {
      throw await this.http.failure(
        res,
        `image ${name}`,
        `check the repository and ${byDigest ? 'digest' : 'tag'}, and that it was pushed to ${ref.registry}`,
      );
    }
    const bytes = await readBody(res, this.maxManifestBytes, `the manifest of ${name}`);
    const digest = checkManifestDigest(res, bytes, byDigest ? target : undefined, name);
    const document = parseJson(bytes, `the manifest of ${name}`);
    const kind = manifestKind(header(res, 'content-type'), document, `the manifest of ${name}`);
    const mediaType =
      (document as { mediaType?: string }).mediaType ?? header(res, 'content-type')?.split(';')[0]?.trim() ?? '';
    return { digest, mediaType, bytes, kind, document };
  }
}

/**
 * The digest of fetched manifest bytes. By digest, the bytes must hash to it; by tag, they must match the
 * Docker-Content-Digest the registry reports, when it reports one.
 */
function checkManifestDigest(res: HttpResponse, bytes: Buffer, expected: string | undefined, name: string): string {
  const claimed = expected ?? header(res, 'docker-content-digest');
  if (claimed !== undefined && /^sha(256|512):[a-f0-9]+$/.test(claimed)) {
    if (!matchesDigest(bytes, claimed)) {
      throw new FlotillaError(
        Code.DataLoss,
        `the manifest of ${name} does not hash to ${claimed}: the registry served different content; pull again, ` +
          'and if it persists the image on the registry is corrupt',
        { reason: 'digest-mismatch' },
      );
    }
    return claimed;
  }
  return sha256Digest(bytes);
}

function header(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function toReference(input: RefInput): ImageReference {
  return typeof input === 'string' ? parseImageReference(input) : input;
}

/** The same repository, by digest alone. */
function withDigest(ref: ImageReference, digest: string): ImageReference {
  const parts = { registry: ref.registry, repository: ref.repository, digest };
  return { ...parts, name: formatImageReference(parts) };
}

function noPlatform(ref: ImageReference, wanted: Platform, available: Platform[]): FlotillaError {
  const list = available.map(formatPlatform).join(', ') || 'none declared';
  return new FlotillaError(
    Code.NotFound,
    `image ${ref.name} has no build for ${formatPlatform(wanted)} (it has: ${list}): use an image built for ` +
      'this platform, or place the service on nodes of a platform it has',
    { reason: 'no-matching-platform' },
  );
}

/** Where a redirect points; a Location that is no URL is the registry's fault, said as such. */
function redirectTarget(location: string, base: URL, what: string): URL {
  try {
    return new URL(location, base);
  } catch (err) {
    throw new FlotillaError(Code.Unavailable, `${what}: the registry redirected to an invalid URL; retry later`, {
      cause: err,
      reason: 'unavailable',
    });
  }
}

/** A redirect that could not be followed: a FlotillaError as it is, anything else as a registry that is away. */
function redirectFailure(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FlotillaError(Code.Unavailable, `registry request failed (${message}): retry later`, {
    cause: err,
    reason: 'unavailable',
  });
}
