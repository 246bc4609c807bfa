import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privateContainerdConfig } from './containerd-instance.js';
import { awaitReady, type Launch, type ServerProcess, socketAnswers } from './server-process.js';

export interface ContainerdOptions {
  /** Its own directory: configuration, root, state and socket (made if missing; kept across restarts). */
  dir: string;
  /** The containerd namespace its containers are to live in (runc's state is shared per namespace). */
  namespace: string;
  /** A command prefix to run it under, e.g. a namespace host's `nsenter --net=…` prefix. */
  wrap?: readonly string[];
  binary: string;
  /** The process's name, in errors and (detached) its log file; default "containerd". */
  name?: string;
}

/** A private containerd: its socket and namespace, where it lives, and its process. */
export interface RunningContainerd<P extends ServerProcess = ServerProcess> {
  readonly socket: string;
  readonly namespace: string;
  readonly dir: string;
  readonly process: P;
}

/**
 * Starts a private containerd (Debian's `containerd` and `runc`, as root): configuration, root, state and socket
 * under `dir`, the CRI plugin off, so several run side by side (one per namespace host). Resolves once its
 * socket answers. `destroyContainerd` ends it with everything it started.
 */
export async function startContainerd<P extends ServerProcess>(
  options: ContainerdOptions,
  launch: Launch<P>,
): Promise<RunningContainerd<P>> {
  const { dir, wrap } = options;
  mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'config.toml');
  writeFileSync(config, privateContainerdConfig(dir, socket));
  const name = options.name ?? 'containerd';
  const proc = await launch({
    name,
    command: wrap?.[0] ?? options.binary,
    args: [...(wrap ? [...wrap.slice(1), options.binary] : []), '--config', config, '--log-level', 'warn'],
  });
  const timeoutMs = 30_000;
  await awaitReady(proc, name, { what: `open ${socket}`, probe: () => socketAnswers(socket), timeoutMs });
  return { socket, namespace: options.namespace, dir, process: proc };
}
