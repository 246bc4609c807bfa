import { Code, FlotillaError } from '@flotilla/api';
import { type CallOptions, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { containerdFailure } from './containerd-failure.js';
import { ContainersClient } from './gen/github.com/containerd/containerd/api/services/containers/v1/containers.js';
import { ContentClient } from './gen/github.com/containerd/containerd/api/services/content/v1/content.js';
import { DiffClient } from './gen/github.com/containerd/containerd/api/services/diff/v1/diff.js';
import { EventsClient } from './gen/github.com/containerd/containerd/api/services/events/v1/events.js';
import { ImagesClient } from './gen/github.com/containerd/containerd/api/services/images/v1/images.js';
import { LeasesClient } from './gen/github.com/containerd/containerd/api/services/leases/v1/leases.js';
import { NamespacesClient } from './gen/github.com/containerd/containerd/api/services/namespaces/v1/namespace.js';
import { SnapshotsClient } from './gen/github.com/containerd/containerd/api/services/snapshots/v1/snapshots.js';
import { TasksClient } from './gen/github.com/containerd/containerd/api/services/tasks/v1/tasks.js';
import { VersionClient } from './gen/github.com/containerd/containerd/api/services/version/v1/version.js';

type Callback<T> = (err: ServiceError | null, res: T) => void;

/** Unary calls that never answer within this long are failed (containerd hung or its socket is stale). */
const DEFAULT_DEADLINE_MS = 30_000;

/**
 * containerd's gRPC services on one socket, scoped to one containerd namespace (sent as `containerd-namespace`
 * metadata on every call). Calls made while a lease is given carry `containerd-lease`, so what they create is
 * kept from garbage collection until the lease is deleted.
 */
export class Containerd {
  readonly containers: ContainersClient;
  readonly content: ContentClient;
  readonly diff: DiffClient;
  readonly events: EventsClient;
  readonly images: ImagesClient;
  readonly leases: LeasesClient;
  readonly namespaces: NamespacesClient;
  readonly snapshots: SnapshotsClient;
  readonly tasks: TasksClient;
  readonly version: VersionClient;

  constructor(
    readonly socket: string,
    readonly namespace: string,
  ) {
    const address = `unix://${socket}`;
    const creds = credentials.createInsecure();
    // Image layers and content writes go in chunks well under this, but manifests and specs can be large.
    const options = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.containers = new ContainersClient(address, creds, options);
    const channelOverride = this.containers.getChannel();
    const shared = { ...options, channelOverride };
    this.content = new ContentClient(address, creds, shared);
    this.diff = new DiffClient(address, creds, shared);
    this.events = new EventsClient(address, creds, shared);
    this.images = new ImagesClient(address, creds, shared);
    this.leases = new LeasesClient(address, creds, shared);
    this.namespaces = new NamespacesClient(address, creds, shared);
    this.snapshots = new SnapshotsClient(address, creds, shared);
    this.tasks = new TasksClient(address, creds, shared);
    this.version = new VersionClient(address, creds, shared);
  }

  /** Metadata for a call: the namespace, and the lease that protects what the call creates. */
  metadata(lease?: string): Metadata {
    const md = new Metadata();
    md.set('containerd-namespace', this.namespace);
    if (lease) md.set('containerd-lease', lease);
    return md;
  }

  /**
   * One unary call as a promise, with a deadline: `c.call((md, o, cb) => c.tasks.start(req, md, o, cb))`.
   * Errors become FlotillaErrors with the gRPC status mapped to a code.
   */
  call<T>(
    invoke: (md: Metadata, options: Partial<CallOptions>, cb: Callback<T>) => unknown,
    options: { lease?: string; timeoutMs?: number; what?: string } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_DEADLINE_MS);
    return new Promise<T>((resolve, reject) => {
      invoke(this.metadata(options.lease), { deadline }, (err, res) => {
        if (err) reject(containerdFailure(err, options.what));
        else resolve(res);
      });
    });
  }

  close(): void {
    // Every client shares the first one's channel: closing it closes them all.
    this.containers.close();
  }
}

export function isNotFound(err: unknown): boolean {
  return FlotillaError.from(err).code === Code.NotFound;
}
