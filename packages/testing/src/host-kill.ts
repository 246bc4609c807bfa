import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { signalPid, taskNamespacesOf } from '@flotilla/devhosts';
import { shimPids, type TestContainerd } from '@flotilla/test-servers';
import type { DaemonProcess } from './daemon-process.js';
import type { NetnsHost } from './netns-hosts.js';

const NETNS_DIR = '/run/netns';

/** What a killed host left: its dead containerd (to clean up) and the namespaces of its dead tasks. */
export interface KilledRuntime {
  containerd: TestContainerd;
  taskNetns: string[];
}

/** A container in runc's state for a containerd namespace: its ID (the task's), init PID and cgroups. */
interface RuncContainer {
  id: string;
  pid: number | undefined;
  cgroups: string[];
}

function runcContainers(namespace: string): RuncContainer[] {
  const dir = `/run/containerd/runc/${namespace}`;
  if (!existsSync(dir)) return [];
  const found: RuncContainer[] = [];
  for (const id of readdirSync(dir)) {
    try {
      const state = JSON.parse(readFileSync(`${dir}/${id}/state.json`, 'utf8')) as {
        init_process_pid?: number;
        cgroup_paths?: Record<string, string>;
      };
      found.push({ id, pid: state.init_process_pid, cgroups: Object.values(state.cgroup_paths ?? {}) });
    } catch {
      // being created or removed
    }
  }
  return found;
}

/** Whether a process has ended (gone, or a zombie nobody has reaped yet). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    // No /proc entry: reaped and gone.
    return true;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !ended(pid) && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Cuts the host's link, then SIGKILLs its agent, containerd, the shims and the containers. A shim's death does not
 * take its container with it (the container's init is re-parented to PID 1, not signalled), so the containers are
 * killed by the init PIDs runc recorded and by their cgroups. Returns what `restore()` or `close()` must clear.
 */
export async function killHost(node: {
  host: NetnsHost;
  containerd: TestContainerd;
  agent: DaemonProcess;
}): Promise<KilledRuntime> {
  const { host, containerd, agent } = node;
  await host.cut();
  agent.child.kill('SIGKILL');
  signalPid(containerd.process.pid, 'SIGKILL');
  for (const pid of shimPids(containerd.socket)) signalPid(pid, 'SIGKILL');
  // runc's record of the containers outlives them all (it is in /run/containerd/runc, cleared by `destroy()`).
  const containers = runcContainers(containerd.namespace);
  for (const c of containers) {
    if (c.pid) signalPid(c.pid, 'SIGKILL');
    for (const cgroup of c.cgroups) {
      let procs = '';
      try {
        procs = readFileSync(`${cgroup}/cgroup.procs`, 'utf8');
      } catch {
        // The cgroup is gone already, and its processes with it.
        continue;
      }
      for (const pid of procs.split('\n').filter(Boolean)) signalPid(Number(pid), 'SIGKILL');
    }
  }
  await Promise.all([
    agent.exited,
    ...[containerd.process.pid, ...containers.map((c) => c.pid ?? 0)].filter(Boolean).map((p) => waitGone(p, 5_000)),
  ]);
  // The dead tasks' namespaces: those whose veth ends in this host, and those of the containers runc knew.
  const taskNetns = new Set(await taskNamespacesOf([host]));
  for (const c of containers) if (existsSync(`${NETNS_DIR}/flt-${c.id}`)) taskNetns.add(`flt-${c.id}`);
  return { containerd, taskNetns: [...taskNetns] };
}
