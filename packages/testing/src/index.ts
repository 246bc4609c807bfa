export type { ProcessSpec } from './managed-process.js';
export { freePort, ManagedProcess } from './managed-process.js';
export { runPrefix } from './run-prefix.js';
export type { TestServer } from './servers.js';
export { startEtcd, startRedis } from './servers.js';
export { generateStackYaml } from './stack-builder.js';
export { TcpProxy } from './tcp-proxy.js';
export { tempDir } from './temp-dir.js';
