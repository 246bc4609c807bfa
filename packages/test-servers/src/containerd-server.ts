import { destroyContainerd, ManagedProcess, shimPids, startContainerd as start } from '@flotilla/devhosts';
import { runPrefix } from './run-prefix.js';
import { requireBinary } from './servers.js';
import { tempDir } from './temp-dir.js';

/** A containerd started for tests, with its own root, state and socket. */
export interface TestContainerd {
  /** The gRPC socket. */
  readonly socket: string;
  /** A containerd namespace unique to this instance (runc's state is shared per namespace across instances). */
  readonly namespace: string;
  readonly root: string;
  readonly process: ManagedProcess;
  /** Stops containerd and the shims it started, unmounts what it mounted, removes its directories. */
  destroy(): Promise<void>;
}

let instances = 0;

/**
 * A private containerd (Debian `containerd` + `runc`, as root) for tests: config, root, state and socket in a
 * temporary directory, the CRI plugin off. Several can run side by side; each test gets its own namespace.
 */
export async function startContainerd(
  options: {
    label?: string;
    /** A command prefix to run containerd under, e.g. a namespace host's `nsenter --net=…` prefix. */
    wrap?: readonly string[];
  } = {},
): Promise<TestContainerd> {
  const binary = requireBinary('containerd');
  if (process.getuid?.() !== 0) throw new Error('containerd tests need root');
  const dir = tempDir(`ctrd-${options.label ?? 'test'}`);
  const namespace = `${runPrefix()}-${options.label ?? 'test'}-${++instances}`;
  const running = await start(
    { dir: dir.path, namespace, binary, ...(options.wrap ? { wrap: options.wrap } : {}) },
    ManagedProcess.start,
  );
  const proc = running.process;
  return {
    socket: running.socket,
    namespace,
    root: `${dir.path}/root`,
    process: proc,
    async destroy() {
      await proc.stop();
      await destroyContainerd({ socket: running.socket, namespace, dir: dir.path });
      dir.remove();
    },
  };
}

export { shimPids };
