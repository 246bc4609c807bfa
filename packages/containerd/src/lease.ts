import { randomBytes } from 'node:crypto';
import type { Containerd } from './client.js';
import {
  AddResourceRequest,
  CreateRequest,
  DeleteRequest,
} from './gen/github.com/containerd/containerd/api/services/leases/v1/leases.js';

/**
 * Runs `fn` under a fresh lease: what it creates (content, snapshots) is safe from containerd's garbage
 * collector until the lease is deleted, by which time image records and GC labels reference what is kept.
 * The lease expires on its own after a day if the agent dies half-way (a pull may take long).
 */
export async function withLease<T>(c: Containerd, fn: (lease: string) => Promise<T>): Promise<T> {
  const id = `flotilla-${Date.now()}-${randomBytes(4).toString('hex')}`;
  await c.call((md, o, cb) =>
    c.leases.create(
      CreateRequest.fromPartial({
        id,
        labels: { 'containerd.io/gc.expire': new Date(Date.now() + 24 * 3_600_000).toISOString() },
      }),
      md,
      o,
      cb,
    ),
  );
  try {
    return await fn(id);
  } finally {
    // A lease that cannot be deleted now expires by itself (its gc.expire label): nothing to do about it here.
    await c.call((md, o, cb) => c.leases.delete(DeleteRequest.fromPartial({ id }), md, o, cb)).catch(() => undefined);
  }
}

/**
 * Puts something that already exists (a blob, a snapshot) under a lease: left over from a deleted image, it
 * is otherwise unreferenced and the garbage collector could take it before the new image's labels point at it.
 * `type` is `content` or `snapshots/<snapshotter>`.
 */
export async function leaseResource(c: Containerd, lease: string, type: string, id: string): Promise<void> {
  await c.call((md, o, cb) =>
    c.leases.addResource(AddResourceRequest.fromPartial({ id: lease, resource: { id, type } }), md, o, cb),
  );
}
