import { FlotillaError } from '@flotilla/api';
import type { Descriptor } from '@flotilla/containerd';
import { parseImageReference, type RegistryClient } from '@flotilla/registry';
import { errorMessage } from '../../error-message.js';
import { RejectedError } from '../executor.js';
import type { ImageSource, RegistryImage } from './image-store.js';

/** Images from OCI registries, through the registry client (auth, platform choice, digest checks). */
export class RegistrySource implements ImageSource {
  constructor(private readonly client: RegistryClient) {}

  normalize(ref: string): string {
    return parseImageReference(ref).name;
  }

  async resolve(ref: string, platform: { os: string; architecture: string }): Promise<RegistryImage> {
    const image = await this.client.resolve(ref, platform);
    return {
      digest: image.digest,
      mediaType: image.mediaType,
      manifest: image.manifest,
      config: toContainerd(image.config),
      configBytes: image.configBytes,
      layers: image.layers.map(toContainerd),
    };
  }

  async *blob(ref: string, d: Descriptor): AsyncIterable<Uint8Array> {
    const stream = await this.client.fetchBlob(ref, { mediaType: d.mediaType, digest: d.digest, size: Number(d.size) });
    for await (const chunk of stream) yield chunk as Uint8Array;
  }
}

function toContainerd(d: { mediaType: string; digest: string; size: number }): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: BigInt(d.size), annotations: {} };
}

/** Pull errors the task cannot get past on any retry are rejections; the rest (registry down) are failures. */
export function pullError(ref: string, err: unknown): Error {
  // Only the registry's answers are final: they carry a reason (containerd's not-found, with none, means something
  // went missing locally).
  const code = err instanceof FlotillaError ? err.reason : undefined;
  const message = errorMessage(err);
  if (
    err instanceof RejectedError ||
    code === 'not-found' ||
    code === 'unauthorized' ||
    code === 'no-matching-platform' ||
    code === 'invalid-reference' ||
    code === 'unsupported-media-type'
  ) {
    return new RejectedError(message.includes(ref) ? message : `pulling ${ref}: ${message}`);
  }
  return new Error(message.includes(ref) ? message : `pulling ${ref}: ${message}`);
}
