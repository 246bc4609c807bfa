import path from 'node:path';
import type { Task } from '@flotilla/api';
import type { EtcFiles } from './container-mounts.js';

/** Where a sidecar's container joins its main task's: the network namespace and the /etc files that go with it. */
export interface BesideMain {
  netns: string;
  etcFiles: EtcFiles;
}

/**
 * A sidecar that shares its main task's network (`network_mode: "service:NAME"`) joins the namespace of the main
 * container's first process, whatever made it (the overlay's, or runc's own with only loopback), and sees the
 * same /etc/hosts, hostname and resolver, as Docker gives a container joined to another's network. Undefined for
 * a task that shares no network (or the node's own). The main task must be running here: the worker starts a
 * sidecar only once it is, and the managers place it on the main task's node.
 */
export function besideMain(
  task: Task,
  mainPid: (taskId: string) => number | undefined,
  taskDir: (taskId: string) => string,
): BesideMain | undefined {
  if (!task.sidecar?.shareNetwork || !task.mainTaskId || task.spec?.hostNetwork) return undefined;
  const pid = mainPid(task.mainTaskId);
  if (!pid) {
    throw new Error(
      `its main task ${task.mainTaskId} is not running on this node: a sidecar joins its network namespace, and is started again once it runs`,
    );
  }
  const etc = path.join(taskDir(task.mainTaskId), 'etc');
  return {
    netns: `/proc/${pid}/ns/net`,
    etcFiles: {
      hosts: path.join(etc, 'hosts'),
      hostname: path.join(etc, 'hostname'),
      resolvConf: path.join(etc, 'resolv.conf'),
    },
  };
}
