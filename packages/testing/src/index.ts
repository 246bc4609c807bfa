// The servers tests run against, and how they are run: @flotilla/test-servers and @flotilla/devhosts, here too
// so that one import serves a test.
export type { ProcessSpec } from '@flotilla/devhosts';
export { freePort, ManagedProcess } from '@flotilla/devhosts';
export type {
  RegistryLogin,
  RegistryOptions,
  TestContainerd,
  TestImageRefs,
  TestPki,
  TestRegistry,
  TestServer,
} from '@flotilla/test-servers';
export {
  buildBusyboxImage,
  makeTestPki,
  pushTestImages,
  runPrefix,
  shimPids,
  startContainerd,
  startEtcd,
  startRedis,
  startRegistry,
  tempDir,
} from '@flotilla/test-servers';
export type { DaemonProcess } from './daemon-process.js';
export { startDaemon } from './daemon-process.js';
export { fuzzAgentProtocol } from './fuzz/agent-protocol-fuzz.js';
export type { ControlApiFuzzOptions } from './fuzz/control-api-fuzz.js';
export { fuzzControlApi } from './fuzz/control-api-fuzz.js';
export { fuzzDnsServer } from './fuzz/dns-server-fuzz.js';
export type { FuzzBudget, FuzzResult } from './fuzz/fuzz-tally.js';
export { fuzzLine, totalOf } from './fuzz/fuzz-tally.js';
export { fuzzRegistryClient } from './fuzz/registry-client-fuzz.js';
export { fuzzStackFiles, stackFileInputs, stackSamples } from './fuzz/stack-file-fuzz.js';
export type { HollowNode, HollowOptions } from './hollow-nodes.js';
export { HollowNodes } from './hollow-nodes.js';
export { httpGet, underLoad } from './http-load.js';
export type { ClusterManager, ClusterNode, ManagerHealth, NetnsCluster, NetnsClusterOptions } from './netns-cluster.js';
export { startNetnsCluster } from './netns-cluster.js';
export type { NetnsExecOptions, NetnsHost, NetnsHosts, NetnsHostsOptions } from './netns-hosts.js';
export { createNetnsHosts, sweepNetnsHosts } from './netns-hosts.js';
export type { RuntimeSample } from './runtime-samples.js';
export { completeSamples, gapsIn, mostPerSlot, runtimeSample, sampled, slotsRunTwice } from './runtime-samples.js';
export { generateStackYaml } from './stack-builder.js';
export { TcpProxy } from './tcp-proxy.js';
