import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@flotilla/observability';
import { NodeNetwork } from '@flotilla/overlay';
import { loadRegistryCredentials, RegistryClient } from '@flotilla/registry';
import { errorMessage } from '../error-message.js';
import { ContainerdExecutor } from './containerd/containerd-executor.js';
import { RegistrySource } from './containerd/registry-source.js';
import { nodeSeccomp } from './containerd/seccomp-profile.js';
import type { Executor, TaskOutput } from './executor.js';
import { ProcessExecutor } from './process/process-executor.js';

export type ExecutorKind = 'auto' | 'containerd' | 'process';

export interface RuntimeOptions {
  /**
   * auto (default): containerd when the agent runs as root (and it must answer), plain processes when not root.
   * A root agent never falls back to processes by itself: that would drop every container's isolation.
   */
  executor?: ExecutorKind;
  /** containerd's socket (default /run/containerd/containerd.sock). */
  containerdSocket?: string;
  /** containerd namespace for this node's containers (default `flotilla`). */
  containerdNamespace?: string;
  /** Docker-style config.json with registry logins (default <state dir>/registry-auth.json if present). */
  registryAuthFile?: string;
  /** Registries reached over plain HTTP when HTTPS fails (loopback ones always are). */
  insecureRegistries?: string[];
  /** PEM CA certificates to trust for registries, besides the system's. */
  registryCa?: string;
  /** Wire containers into the cluster's overlay networks (default true with containerd). */
  overlay?: boolean;
  /** Resolvers for names outside the cluster (default: the nameservers of the node's /etc/resolv.conf). */
  dnsUpstreams?: string[];
  /** How long a task told to stop keeps running after it left the load balancing, before its signal (2 s). */
  drainMs?: number;
  /**
   * The containers' default seccomp profile, in Docker's format (default: Docker's as Debian ships it, or the
   * containers-common one). Without one the containerd executor is not used: containers never run unfiltered
   * unless a service asks for `seccomp=unconfined`.
   */
  seccompProfile?: string;
}

export interface ChosenExecutor {
  executor: Executor;
  /** What the node reports as its runtime, and its version. */
  runtime: string;
  runtimeVersion: string;
  /** Why this executor was chosen, for the agent's start-up log (said plainly when it is the fallback). */
  reason: string;
  /** The overlay driver, when containers join the cluster's networks. */
  network?: NodeNetwork;
}

const DEFAULT_SOCKET = '/run/containerd/containerd.sock';

/**
 * Picks the node's executor. With `auto`, an agent that is not root runs tasks as plain processes (and says so);
 * one that is root uses containerd, and refuses to start when containerd is not usable, rather than run as host
 * processes what was meant to run isolated: `--executor process` says so on purpose.
 */
export async function chooseExecutor(
  options: RuntimeOptions,
  ctx: {
    stateDir: string;
    nodeId: string;
    output: TaskOutput;
    warn?: (message: string) => void;
    logger?: Logger;
  },
): Promise<ChosenExecutor> {
  const kind = options.executor ?? 'auto';
  const socket = options.containerdSocket ?? DEFAULT_SOCKET;
  if (kind === 'process') return processExecutor(ctx, 'asked for with --executor process');
  const root = process.getuid?.() === 0;
  if (!root) {
    if (kind === 'containerd') throw new Error('cannot use containerd: the agent is not running as root');
    return processExecutor(ctx, 'the agent is not running as root: tasks run as plain processes, without images');
  }
  if (!existsSync(socket)) throw notUsable(socket, 'no socket there');
  // Read now, so that a node without a profile says so at start, not per task.
  const seccomp = nodeSeccomp(options.seccompProfile);
  const authFile = options.registryAuthFile ?? `${ctx.stateDir}/registry-auth.json`;
  const client = new RegistryClient({
    credentials: await loadRegistryCredentials(authFile),
    insecureRegistries: options.insecureRegistries ?? [],
    ...(options.registryCa ? { ca: options.registryCa } : {}),
  });
  const network =
    options.overlay === false
      ? undefined
      : new NodeNetwork({
          nodeId: ctx.nodeId,
          dnsUpstreams: options.dnsUpstreams ?? hostResolvers(),
          ...(ctx.logger ? { logger: ctx.logger } : {}),
        });
  const executor = new ContainerdExecutor({
    ...(network ? { network, drainMs: options.drainMs ?? 2_000 } : {}),
    socket,
    namespace: options.containerdNamespace ?? 'flotilla',
    stateDir: ctx.stateDir,
    nodeId: ctx.nodeId,
    images: new RegistrySource(client),
    output: ctx.output,
    seccomp,
    ...(ctx.logger ? { logger: ctx.logger } : {}),
  });
  try {
    const version = await executor.runtimeVersion();
    await network?.start();
    return {
      executor,
      runtime: 'containerd',
      runtimeVersion: version,
      reason: `containerd ${version} at ${socket}${network ? ', overlay networks on' : ', overlay networks off'}`,
      ...(network ? { network } : {}),
    };
  } catch (err) {
    executor.close();
    throw notUsable(socket, `it does not answer: ${errorMessage(err)}`);
  }
}

/** Why a root agent does not start: containers would lose their isolation without a word. */
function notUsable(socket: string, why: string): Error {
  return new Error(
    `cannot use containerd at ${socket} (${why}): start containerd, or give --executor process to run tasks as plain host processes without images or isolation`,
  );
}

function processExecutor(
  ctx: { output: TaskOutput; stateDir: string; warn?: (message: string) => void },
  reason: string,
): ChosenExecutor {
  // One cgroup directory per agent, the same across its restarts, so a restarted agent clears what it left.
  const scope = createHash('sha256').update(path.resolve(ctx.stateDir)).digest('hex').slice(0, 12);
  return {
    executor: new ProcessExecutor({ output: ctx.output, cgroups: { scope }, ...(ctx.warn ? { warn: ctx.warn } : {}) }),
    runtime: 'process',
    runtimeVersion: process.version,
    reason,
  };
}

/** The nameservers of the node's /etc/resolv.conf: where names outside the cluster are resolved. */
function hostResolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
      .filter((ns): ns is string => !!ns);
  } catch {
    // No resolv.conf on the node: no upstreams, so containers resolve cluster names only.
    return [];
  }
}
