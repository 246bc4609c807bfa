import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';

/**
 * Ending a containerd instance with everything it started: its containers (which outlive their shims), its
 * shims (which outlive containerd by design), its mounts, runc's state and the containers' cgroups. For the dev
 * cluster's nodes and the test harness, which run private instances (own --root, --state and socket) and must
 * leave nothing behind.
 */
export interface ContainerdInstance {
  /** Its gRPC socket (shims name it in their -address). */
  socket: string;
  /** The containerd namespace its containers live in. */
  namespace: string;
  /** Its root and state live under this directory: what is mounted there is unmounted. */
  dir: string;
  /** Its own PID, when known (SIGKILLed after its shims). */
  pid?: number;
}

/** Kills containers, shims and containerd itself, then unmounts and removes what they left. */
export async function destroyContainerd(
  instance: ContainerdInstance,
  options: { keepDir?: boolean } = {},
): Promise<void> {
  killCgroupProcesses(instance.namespace);
  for (const pid of shimPids(instance.socket)) kill(pid);
  if (instance.pid !== undefined) {
    kill(instance.pid);
    for (let i = 0; i < 50 && alive(instance.pid); i++) await sleep(100);
  }
  unmountUnder(instance.dir);
  // runc keeps its state per containerd namespace, outside containerd's own state directory.
  rmSync(`/run/containerd/runc/${instance.namespace}`, { recursive: true, force: true });
  // A killed process leaves its cgroup a moment later.
  for (let i = 0; i < 20 && !removeCgroups(instance.namespace); i++) await sleep(100);
  if (!options.keepDir) rmSync(instance.dir, { recursive: true, force: true });
}

/** PIDs of containerd-shim processes started for the containerd on this socket. */
export function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(socket)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: no such process, which is the answer.
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Unmounts everything mounted under `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
  }
}

/** The cgroup trees: each controller's under cgroup v1, the one unified tree under v2. */
function cgroupTrees(): string[] {
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return [];
  return existsSync(`${base}/cgroup.controllers`) ? [base] : readdirSync(base).map((c) => `${base}/${c}`);
}

/**
 * The cgroup directories of a namespace's containers in one tree: the executor's (`/flotilla/<namespace>`) and
 * containerd's own default (`/<namespace>`, what `ctr run` uses).
 */
function namespaceCgroups(tree: string, namespace: string): string[] {
  return [`${tree}/flotilla/${namespace}`, `${tree}/${namespace}`];
}

/** SIGKILLs every process in the containers' cgroups of this namespace. */
export function killCgroupProcesses(namespace: string): void {
  for (const dir of cgroupTrees().flatMap((tree) => namespaceCgroups(tree, namespace))) {
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (!child.isDirectory()) continue;
      let procs = '';
      try {
        procs = readFileSync(`${dir}/${child.name}/cgroup.procs`, 'utf8');
      } catch {
        // The cgroup went away meanwhile: nothing left in it to kill.
        continue;
      }
      for (const pid of procs.split('\n').filter(Boolean)) kill(Number(pid));
    }
  }
}

/** Removes a namespace's container cgroups; false while some are still in use. */
function removeCgroups(namespace: string): boolean {
  let done = true;
  for (const tree of cgroupTrees()) {
    for (const dir of namespaceCgroups(tree, namespace)) {
      if (!existsSync(dir)) continue;
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirQuiet(`${dir}/${child.name}`);
      }
      rmdirQuiet(dir);
      if (existsSync(dir)) done = false;
    }
    // The shared parent goes too once no other instance uses it.
    rmdirQuiet(`${tree}/flotilla`);
  }
  return done;
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // still in use, or already gone
  }
}

/**
 * The configuration of a private containerd: its root and state under `dir`, its socket, the CRI plugin off
 * (Flotilla drives containerd directly). Several run side by side this way.
 */
export function privateContainerdConfig(dir: string, socket: string): string {
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '',
  ].join('\n');
}
