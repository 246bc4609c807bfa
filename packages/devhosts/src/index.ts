export type { ServerName } from './binaries.js';
export { debianPackageOf, serverBinary } from './binaries.js';
export type { ExecOptions } from './command.js';
export { errorMessage, ip, ipJson, runCommand } from './command.js';
export type { ContainerdOptions, RunningContainerd } from './containerd.js';
export { startContainerd } from './containerd.js';
export type { ContainerdInstance } from './containerd-instance.js';
export {
  destroyContainerd,
  killCgroupProcesses,
  privateContainerdConfig,
  shimPids,
  unmountUnder,
} from './containerd-instance.js';
export { DetachedProcess, detachedLauncher } from './detached-process.js';
export type { EtcdOptions } from './etcd.js';
export { etcdServer } from './etcd.js';
export { EXAMPLE_IMAGE, pushExampleImages, REDIS_IMAGE } from './example-images.js';
export { hostAgentArgs } from './host-agent.js';
export type { HostNetwork } from './host-network.js';
export {
  createHostNetwork,
  deleteLink,
  deleteNamespace,
  listNamespaces,
  removeHostNetwork,
} from './host-network.js';
export { ManagedProcess } from './managed-process.js';
export type { HostPlan, NamespaceHost } from './namespace-host.js';
export { namespaceHost } from './namespace-host.js';
export { pidAlive, signalPid, stopPid } from './pids.js';
export type { RedisOptions } from './redis.js';
export { redisServer } from './redis.js';
export type { RegistryServerOptions } from './registry.js';
export { registryServer } from './registry.js';
export type { Launch, ProcessSpec, ServerProcess } from './server-process.js';
export { awaitReady, awaitReadyPort, freePort, portAnswers, socketAnswers } from './server-process.js';
export { taskNamespacesOf } from './task-namespaces.js';
