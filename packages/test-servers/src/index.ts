// What the servers run as, from the shared implementation with `flotilla dev`.
export type { ProcessSpec } from '@flotilla/devhosts';
export { freePort, ManagedProcess } from '@flotilla/devhosts';
export type { TestContainerd } from './containerd-server.js';
export { shimPids, startContainerd } from './containerd-server.js';
export type { TestPki } from './pki.js';
export { makeTestPki } from './pki.js';
export type { RegistryLogin, RegistryOptions, TestImageRefs, TestRegistry } from './registry-server.js';
export { buildBusyboxImage, pushTestImages, startRegistry } from './registry-server.js';
export { runPrefix } from './run-prefix.js';
export type { TestServer } from './servers.js';
export { startEtcd, startRedis } from './servers.js';
export { tempDir } from './temp-dir.js';
