import { randomBytes } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Containerd } from './client.js';
import { containerdFailure } from './containerd-failure.js';
import {
  InfoRequest,
  WriteAction,
  WriteContentRequest,
  type WriteContentResponse,
} from './gen/github.com/containerd/containerd/api/services/content/v1/content.js';

/** Chunks larger than this are split: one gRPC message each, well under containerd's receive limit. */
const CHUNK = 1024 * 1024;

/** Whether the content store already holds a blob. */
export async function hasContent(c: Containerd, digest: string): Promise<boolean> {
  try {
    await c.call((md, o, cb) => c.content.info(InfoRequest.fromPartial({ digest }), md, o, cb));
    return true;
  } catch (err) {
    if (err instanceof FlotillaError && err.code === Code.NotFound) return false;
    throw err;
  }
}

export interface WriteOptions {
  digest: string;
  size: bigint;
  /** Protects the blob from garbage collection until the lease ends (or labels reference it). */
  lease?: string;
  /** GC references (`containerd.io/gc.ref.*`) and other labels, set when the blob is committed. */
  labels?: Record<string, string>;
  /** Called with the bytes written so far. */
  onProgress?: (written: number) => void;
  /** The whole write's deadline (default 30 minutes). */
  timeoutMs?: number;
}

/**
 * Streams a blob into containerd's content store and commits it under its digest: containerd checks size and
 * digest at commit, so a corrupt download is refused there too. A blob that another writer committed first is
 * not an error.
 */
export async function writeContent(
  c: Containerd,
  data: AsyncIterable<Uint8Array>,
  options: WriteOptions,
): Promise<void> {
  const ref = `flotilla-${options.digest.replace(/[^a-z0-9]/gi, '').slice(-24)}-${randomBytes(4).toString('hex')}`;
  // A stalled containerd or a source that stops sending must not hold the pull forever.
  const stream: ClientDuplexStream<WriteContentRequest, WriteContentResponse> = c.content.write(
    c.metadata(options.lease),
    { deadline: Date.now() + (options.timeoutMs ?? 30 * 60_000) },
  );
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  // Awaited only after the last write: until then a stream error must not go unhandled (it would end the agent).
  done.catch(() => undefined);
  const send = (req: WriteContentRequest) =>
    new Promise<void>((resolve, reject) => {
      stream.write(req, (err: Error | null | undefined) => (err ? reject(err) : resolve()));
    });
  let offset = 0;
  try {
    for await (const piece of data) {
      for (let at = 0; at < piece.length; at += CHUNK) {
        const chunk = piece.subarray(at, at + CHUNK);
        await send(
          WriteContentRequest.fromPartial({
            action: WriteAction.WRITE,
            ref,
            total: options.size,
            expected: options.digest,
            offset: BigInt(offset),
            data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
          }),
        );
        offset += chunk.length;
        options.onProgress?.(offset);
      }
    }
    await send(
      WriteContentRequest.fromPartial({
        action: WriteAction.COMMIT,
        ref,
        total: options.size,
        expected: options.digest,
        offset: BigInt(offset),
        labels: options.labels ?? {},
      }),
    );
    stream.end();
    await done;
  } catch (err) {
    stream.cancel();
    const e = containerdFailure(err, `writing ${options.digest}`);
    if (e.code === Code.AlreadyExists) return;
    throw e;
  }
}
