import { Code, FlotillaError } from '@flotilla/api';
import {
  type Containerd,
  chainIds,
  type Descriptor,
  hasContent,
  imagesApi,
  leaseResource,
  unpackLayers,
  withLease,
  writeContent,
} from '@flotilla/containerd';
import type { Progress } from '../executor.js';
import type { ImageConfig } from './image-config.js';

/** An image manifest as found in a registry, for one platform. */
export interface RegistryImage {
  /** The manifest's digest and media type. */
  digest: string;
  mediaType: string;
  /** The manifest as fetched (its bytes are what the digest covers). */
  manifest: Buffer;
  config: Descriptor;
  /** The config blob when resolving already fetched it (and checked its digest). */
  configBytes?: Buffer;
  layers: Descriptor[];
}

/** Where images come from: a registry client (or anything that can resolve and fetch like one). */
export interface ImageSource {
  /** Normalizes a reference (`busybox` → `docker.io/library/busybox:latest`). Throws on an invalid one. */
  normalize(ref: string): string;
  resolve(ref: string, platform: { os: string; architecture: string }): Promise<RegistryImage>;
  /** The blob's bytes, checked against its digest and size as they stream. */
  blob(ref: string, descriptor: Descriptor): AsyncIterable<Uint8Array>;
}

/** An image ready for containers: unpacked, with its config. */
export interface LocalImage {
  name: string;
  manifestDigest: string;
  config: ImageConfig;
  /** The top layer's chain ID: the parent snapshot of every container made from it. */
  chainId: string;
}

export interface ImageStoreOptions {
  snapshotter?: string;
  platform?: { os: string; architecture: string };
  /** Images no container has used for this long are deleted by gc() (default 30 minutes). */
  unusedTtlMs?: number;
  now?: () => number;
}

interface OciConfig {
  config?: ImageConfig;
  rootfs?: { diff_ids?: string[] };
}

const MANIFEST_MAX = 4 * 1024 * 1024;

/**
 * The node's images, kept in containerd: pulled from a registry once and shared by every task that uses them
 * (concurrent pulls of one image are one pull), unpacked into snapshots, and deleted when unused for a while.
 * A tag already present is used as is (Docker's "missing" pull policy); a digest reference is exact anyway.
 */
export class ImageStore {
  private readonly snapshotter: string;
  private readonly platform: { os: string; architecture: string };
  private readonly pulls = new Map<string, Promise<LocalImage>>();
  private readonly known = new Map<string, LocalImage>();
  private readonly lastUsed = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly c: Containerd,
    private readonly source: ImageSource,
    private readonly options: ImageStoreOptions = {},
  ) {
    this.snapshotter = options.snapshotter ?? 'overlayfs';
    this.platform = options.platform ?? { os: 'linux', architecture: nodeArchitecture() };
    this.now = options.now ?? Date.now;
  }

  /** The image, pulled and unpacked if this node does not have it yet. */
  async ensure(ref: string, progress?: Progress): Promise<LocalImage> {
    const name = this.source.normalize(ref);
    this.lastUsed.set(name, this.now());
    const cached = this.known.get(name);
    if (cached) return cached;
    let pull = this.pulls.get(name);
    if (!pull) {
      pull = this.load(name, progress).finally(() => this.pulls.delete(name));
      this.pulls.set(name, pull);
    }
    const image = await pull;
    this.known.set(name, image);
    return image;
  }

  /**
   * Deletes images that no container of this node uses and that nobody used for the TTL; containerd's garbage
   * collector then frees their content and snapshots. Returns the names deleted.
   */
  async gc(inUse: ReadonlySet<string>): Promise<string[]> {
    const ttl = this.options.unusedTtlMs ?? 30 * 60_000;
    const { images } = await this.c.call<imagesApi.ListImagesResponse>((md, o, cb) =>
      this.c.images.list(imagesApi.ListImagesRequest.fromPartial({}), md, o, cb),
    );
    const deleted: string[] = [];
    for (const image of images) {
      if (inUse.has(image.name) || this.pulls.has(image.name)) continue;
      const used = this.lastUsed.get(image.name) ?? image.updatedAt?.getTime() ?? 0;
      if (this.now() - used < ttl) continue;
      // Forgotten before the delete is sent: a task asking for the image meanwhile loads or pulls it again
      // rather than using a cached entry whose snapshots are going.
      this.known.delete(image.name);
      this.lastUsed.delete(image.name);
      await this.c
        .call((md, o, cb) =>
          this.c.images.delete(imagesApi.DeleteImageRequest.fromPartial({ name: image.name, sync: true }), md, o, cb),
        )
        .then(() => deleted.push(image.name))
        // Not deleted (gone already, or containerd refused): not reported, and one still there is tried again
        // at the next gc.
        .catch(() => undefined);
    }
    return deleted;
  }

  /** Drops what is known of an image (its snapshots turned out to be gone): the next ensure() looks again. */
  forget(ref: string): void {
    this.known.delete(this.source.normalize(ref));
  }

  private async load(name: string, progress?: Progress): Promise<LocalImage> {
    const existing = await this.local(name);
    if (existing) return existing;
    return this.pull(name, progress);
  }

  /** An image containerd already has, if its content is all there. */
  private async local(name: string): Promise<LocalImage | undefined> {
    let image: imagesApi.Image | undefined;
    try {
      ({ image } = await this.c.call<imagesApi.GetImageResponse>((md, o, cb) =>
        this.c.images.get(imagesApi.GetImageRequest.fromPartial({ name }), md, o, cb),
      ));
    } catch (err) {
      if (err instanceof FlotillaError && err.code === Code.NotFound) return undefined;
      throw err;
    }
    if (!image?.target) return undefined;
    try {
      const manifest = JSON.parse((await this.read(image.target.digest, MANIFEST_MAX)).toString()) as {
        config: Descriptor;
        layers: Descriptor[];
      };
      const config = JSON.parse((await this.read(manifest.config.digest, MANIFEST_MAX)).toString()) as OciConfig;
      const chainId = chainIds(config.rootfs?.diff_ids ?? []).at(-1);
      if (!chainId) return undefined;
      return { name, manifestDigest: image.target.digest, config: config.config ?? {}, chainId };
    } catch {
      // Content missing or unreadable: pull it again.
      return undefined;
    }
  }

  private async pull(name: string, progress?: Progress): Promise<LocalImage> {
    progress?.(`resolving ${name}`);
    const resolved = await this.source.resolve(name, this.platform);
    return withLease(this.c, async (lease) => {
      // Config first (small), then layers in parallel.
      const configBytes = resolved.configBytes ?? (await this.fetchSmall(name, resolved.config));
      const config = JSON.parse(configBytes.toString()) as OciConfig;
      const diffIds = config.rootfs?.diff_ids ?? [];
      const top = chainIds(diffIds).at(-1);
      if (!top || diffIds.length !== resolved.layers.length) {
        throw new FlotillaError(Code.InvalidArgument, `image ${name} has a config that does not match its layers`);
      }
      await writeContent(this.c, once(configBytes), {
        digest: resolved.config.digest,
        size: resolved.config.size,
        lease,
        labels: { [`containerd.io/gc.ref.snapshot.${this.snapshotter}`]: top },
      });
      await this.fetchLayers(name, resolved.layers, lease, progress);
      // The manifest references config and layers, so they stay when the lease ends.
      const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': resolved.config.digest };
      resolved.layers.forEach((l, i) => {
        labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
      });
      await writeContent(this.c, once(resolved.manifest), {
        digest: resolved.digest,
        size: BigInt(resolved.manifest.length),
        lease,
        labels,
      });
      progress?.(`unpacking ${name}`);
      await unpackLayers(this.c, { snapshotter: this.snapshotter, layers: resolved.layers, diffIds, lease });
      const record = imagesApi.Image.fromPartial({
        name,
        target: { mediaType: resolved.mediaType, digest: resolved.digest, size: BigInt(resolved.manifest.length) },
      });
      try {
        await this.c.call((md, o, cb) =>
          this.c.images.create(imagesApi.CreateImageRequest.fromPartial({ image: record }), md, o, cb),
        );
      } catch (err) {
        if (!(err instanceof FlotillaError && err.code === Code.AlreadyExists)) throw err;
        // The tag moved to a new digest since this node last pulled it.
        await this.c.call((md, o, cb) =>
          this.c.images.update(imagesApi.UpdateImageRequest.fromPartial({ image: record }), md, o, cb),
        );
      }
      return { name, manifestDigest: resolved.digest, config: config.config ?? {}, chainId: top };
    });
  }

  /** The layers containerd does not have yet, in parallel, with the bytes so far reported as progress. */
  private async fetchLayers(name: string, layers: Descriptor[], lease: string, progress?: Progress): Promise<void> {
    const total = layers.reduce((sum, l) => sum + Number(l.size), 0);
    let done = 0;
    const layerDone = new Map<string, number>();
    const report = () => progress?.(`pulling ${name}: ${mb(done + sum(layerDone))} of ${mb(total)}`);
    await Promise.all(
      layers.map(async (layer) => {
        if (await hasContent(this.c, layer.digest)) {
          await leaseResource(this.c, lease, 'content', layer.digest);
          done += Number(layer.size);
          return;
        }
        await writeContent(this.c, this.source.blob(name, layer), {
          digest: layer.digest,
          size: layer.size,
          lease,
          onProgress: (n) => {
            layerDone.set(layer.digest, n);
            report();
          },
        });
        layerDone.delete(layer.digest);
        done += Number(layer.size);
        report();
      }),
    );
  }

  private async fetchSmall(name: string, d: Descriptor): Promise<Buffer> {
    if (Number(d.size) > MANIFEST_MAX) {
      throw new FlotillaError(Code.InvalidArgument, `image ${name}: its config is larger than ${MANIFEST_MAX} bytes`);
    }
    const parts: Buffer[] = [];
    for await (const chunk of this.source.blob(name, d)) parts.push(Buffer.from(chunk));
    return Buffer.concat(parts);
  }

  /** A whole blob from containerd's content store. */
  private async read(digest: string, max: number): Promise<Buffer> {
    const md = this.c.metadata();
    const stream = this.c.content.read({ digest, offset: 0n, size: 0n }, md);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const res of stream as AsyncIterable<{ data: Buffer }>) {
      size += res.data.length;
      if (size > max) {
        stream.cancel();
        throw new FlotillaError(Code.InvalidArgument, `${digest} is larger than ${max} bytes`);
      }
      parts.push(res.data);
    }
    return Buffer.concat(parts);
  }
}

async function* once(data: Buffer): AsyncIterable<Uint8Array> {
  yield data;
}

function sum(m: Map<string, number>): number {
  let total = 0;
  for (const v of m.values()) total += v;
  return total;
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/** The OCI name of this machine's architecture. */
export function nodeArchitecture(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
}
