export { Containerd, isNotFound } from './client.js';
export { containerdFailure } from './containerd-failure.js';
export type { WriteOptions } from './content.js';
export { hasContent, writeContent } from './content.js';
export * as taskEvents from './gen/github.com/containerd/containerd/api/events/task.js';
// The message types of the services the agent calls, one namespace per containerd service.
export * as containersApi from './gen/github.com/containerd/containerd/api/services/containers/v1/containers.js';
export * as eventsApi from './gen/github.com/containerd/containerd/api/services/events/v1/events.js';
export * as imagesApi from './gen/github.com/containerd/containerd/api/services/images/v1/images.js';
export * as namespacesApi from './gen/github.com/containerd/containerd/api/services/namespaces/v1/namespace.js';
export * as snapshotsApi from './gen/github.com/containerd/containerd/api/services/snapshots/v1/snapshots.js';
export * as tasksApi from './gen/github.com/containerd/containerd/api/services/tasks/v1/tasks.js';
export * as versionApi from './gen/github.com/containerd/containerd/api/services/version/v1/version.js';
export type { Descriptor } from './gen/github.com/containerd/containerd/api/types/descriptor.js';
export type { Mount } from './gen/github.com/containerd/containerd/api/types/mount.js';
export { Status as ProcessStatus } from './gen/github.com/containerd/containerd/api/types/task/task.js';
export { leaseResource, withLease } from './lease.js';
export type { UnpackOptions } from './unpack.js';
export { chainIds, unpackLayers } from './unpack.js';
