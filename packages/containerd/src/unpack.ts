import { createHash, randomBytes } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';
import type { Containerd } from './client.js';
import { ApplyRequest, type ApplyResponse } from './gen/github.com/containerd/containerd/api/services/diff/v1/diff.js';
import {
  CommitSnapshotRequest,
  PrepareSnapshotRequest,
  type PrepareSnapshotResponse,
  RemoveSnapshotRequest,
  StatSnapshotRequest,
} from './gen/github.com/containerd/containerd/api/services/snapshots/v1/snapshots.js';
import type { Descriptor } from './gen/github.com/containerd/containerd/api/types/descriptor.js';
import { leaseResource } from './lease.js';

/**
 * The identities of a layer stack (OCI image spec): the first layer's is its diff ID, each next one the digest
 * of "<parent chain ID> <diff ID>". A committed snapshot is named by its chain ID, so images that share lower
 * layers share their snapshots.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const parent = out.at(-1);
    out.push(parent ? `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}` : diffId);
  }
  return out;
}

async function snapshotExists(c: Containerd, snapshotter: string, key: string): Promise<boolean> {
  try {
    await c.call((md, o, cb) => c.snapshots.stat(StatSnapshotRequest.fromPartial({ snapshotter, key }), md, o, cb));
    return true;
  } catch (err) {
    if (err instanceof FlotillaError && err.code === Code.NotFound) return false;
    throw err;
  }
}

export interface UnpackOptions {
  snapshotter: string;
  /** The image's layers (compressed blobs, already in the content store), bottom first. */
  layers: readonly Descriptor[];
  /** The image config's rootfs.diff_ids: what each layer must unpack to. */
  diffIds: readonly string[];
  lease: string;
  onLayer?: (index: number, total: number) => void;
}

/**
 * Unpacks an image's layers into committed snapshots (prepare an active snapshot on the parent, apply the layer
 * with the diff service, commit it under its chain ID), skipping layers already unpacked. Returns the top
 * chain ID, the parent of every container made from the image.
 */
export async function unpackLayers(c: Containerd, options: UnpackOptions): Promise<string> {
  const { snapshotter, layers, diffIds, lease } = options;
  if (layers.length !== diffIds.length || layers.length === 0) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `the image has ${layers.length} layers but its config lists ${diffIds.length} diff IDs`,
    );
  }
  const chain = chainIds(diffIds);
  for (let i = 0; i < layers.length; i++) {
    const name = chain[i]!;
    options.onLayer?.(i, layers.length);
    if (await snapshotExists(c, snapshotter, name)) {
      await leaseResource(c, lease, `snapshots/${snapshotter}`, name);
      continue;
    }
    const key = `extract-${randomBytes(6).toString('hex')} ${name}`;
    const parent = i > 0 ? chain[i - 1]! : '';
    const prepared = await c.call<PrepareSnapshotResponse>(
      (md, o, cb) =>
        c.snapshots.prepare(
          PrepareSnapshotRequest.fromPartial({
            snapshotter,
            key,
            parent,
            labels: { 'containerd.io/snapshot.ref': name },
          }),
          md,
          o,
          cb,
        ),
      { lease, what: `preparing layer ${i + 1}` },
    );
    try {
      const applied = await c.call<ApplyResponse>(
        (md, o, cb) => c.diff.apply(ApplyRequest.fromPartial({ diff: layers[i], mounts: prepared.mounts }), md, o, cb),
        { lease, timeoutMs: 10 * 60_000, what: `unpacking layer ${i + 1} (${layers[i]!.digest})` },
      );
      if (applied.applied?.digest !== diffIds[i]) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `layer ${i + 1} unpacked to ${applied.applied?.digest}, but the image config says ${diffIds[i]}: the image is corrupt`,
        );
      }
      await c.call(
        (md, o, cb) => c.snapshots.commit(CommitSnapshotRequest.fromPartial({ snapshotter, name, key }), md, o, cb),
        { lease, what: `committing layer ${i + 1}` },
      );
    } catch (err) {
      // Best effort: the lease collects an active snapshot left behind, and err is the failure to report.
      await c
        .call((md, o, cb) => c.snapshots.remove(RemoveSnapshotRequest.fromPartial({ snapshotter, key }), md, o, cb))
        .catch(() => undefined);
      // Another pull of an image with this layer committed it first: that is as good.
      if (err instanceof FlotillaError && err.code === Code.AlreadyExists) continue;
      throw err;
    }
  }
  return chain.at(-1)!;
}
