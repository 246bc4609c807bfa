import type { Task } from '@flotilla/api';
import {
  type Containerd,
  containersApi,
  isNotFound,
  type Mount,
  type ProcessStatus,
  snapshotsApi,
  tasksApi,
} from '@flotilla/containerd';

const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const PROCESS_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
const RUNTIME = 'io.containerd.runc.v2';
/** The snapshotter of the containers' root filesystems and of the images they are made from. */
export const SNAPSHOTTER = 'overlayfs';

/** containerd refuses a label whose key and value together pass this many bytes. */
const MAX_LABEL_BYTES = 4096;

/** The service's container labels that a container may carry: not the agent's flotilla.* keys, none too long. */
export function serviceLabels(task: Task): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(task.spec?.labels ?? {})) {
    if (key.startsWith('flotilla.') || Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) continue;
    out[key] = value;
  }
  return out;
}

/** Where a process's stdout and stderr go: FIFOs the shim writes into (see TaskIo). */
export interface ProcessIo {
  stdout: string;
  stderr: string;
}

/** A process of a container: its main one, or a command run inside it (`execId`). */
interface ProcessRef {
  execId?: string;
}

/**
 * This node's containers in containerd, one per task (the container ID is the task ID): the calls the executor
 * makes on them, each on one container's main process or on a command run inside it.
 */
export class NodeContainers {
  constructor(
    readonly c: Containerd,
    private readonly nodeId: string,
  ) {}

  /**
   * The container's record, labelled with the service's `labels:` and with its task, service and node (those
   * flotilla.* labels are the agent's: a service's own flotilla.* label is left out), and given its runtime spec.
   */
  async create(task: Task, image: string, spec: Record<string, unknown>): Promise<void> {
    const container = containersApi.Container.fromPartial({
      id: task.id,
      image,
      labels: {
        ...serviceLabels(task),
        'flotilla.task.id': task.id,
        'flotilla.service.id': task.serviceId,
        'flotilla.service.name': task.serviceName,
        'flotilla.slot': String(task.slot),
        'flotilla.node.id': this.nodeId,
      },
      runtime: { name: RUNTIME },
      spec: { typeUrl: SPEC_TYPE, value: Buffer.from(JSON.stringify(spec)) },
      snapshotter: SNAPSHOTTER,
      snapshotKey: task.id,
    });
    await this.c.call(
      (md, o, cb) =>
        this.c.containers.create(containersApi.CreateContainerRequest.fromPartial({ container }), md, o, cb),
      { what: 'creating the container' },
    );
  }

  /** The container's writable layer on top of the image's (`parent`, its chain ID): the mounts of its root. */
  async prepareSnapshot(taskId: string, parent: string): Promise<Mount[]> {
    const prepared = await this.c.call<snapshotsApi.PrepareSnapshotResponse>(
      (md, o, cb) =>
        this.c.snapshots.prepare(
          snapshotsApi.PrepareSnapshotRequest.fromPartial({ snapshotter: SNAPSHOTTER, key: taskId, parent }),
          md,
          o,
          cb,
        ),
      { what: 'preparing the container filesystem' },
    );
    return prepared.mounts;
  }

  /** The container's main process, created (runc's shim is up) but not started. */
  async createTask(taskId: string, rootfs: Mount[], io: ProcessIo): Promise<void> {
    await this.c.call(
      (md, o, cb) =>
        this.c.tasks.create(
          tasksApi.CreateTaskRequest.fromPartial({ containerId: taskId, rootfs, stdout: io.stdout, stderr: io.stderr }),
          md,
          o,
          cb,
        ),
      { what: 'creating the container process', timeoutMs: 60_000 },
    );
  }

  /** A command to run inside the running container, as the process spec given (not started yet). */
  async exec(taskId: string, execId: string, io: ProcessIo, process: Record<string, unknown>): Promise<void> {
    const request = tasksApi.ExecProcessRequest.fromPartial({
      containerId: taskId,
      execId,
      stdout: io.stdout,
      stderr: io.stderr,
      spec: { typeUrl: PROCESS_TYPE, value: Buffer.from(JSON.stringify(process)) },
    });
    await this.c.call((md, o, cb) => this.c.tasks.exec(request, md, o, cb));
  }

  /** Starts the main process (or an exec'd one) and gives its PID on the node. */
  async start(taskId: string, { execId }: ProcessRef = {}): Promise<number> {
    const started = await this.c.call<tasksApi.StartResponse>(
      (md, o, cb) => this.c.tasks.start(tasksApi.StartRequest.fromPartial({ containerId: taskId, execId }), md, o, cb),
      execId ? {} : { what: 'starting the container' },
    );
    return started.pid;
  }

  /** Resolves with the process's exit status once it has ended (or fails after timeoutMs). */
  async wait(taskId: string, { execId, timeoutMs }: ProcessRef & { timeoutMs: number }): Promise<number> {
    const res = await this.c.call<tasksApi.WaitResponse>(
      (md, o, cb) => this.c.tasks.wait(tasksApi.WaitRequest.fromPartial({ containerId: taskId, execId }), md, o, cb),
      { timeoutMs },
    );
    return res.exitStatus;
  }

  /** Sends a signal to the process (`all`: to every process of the container); one already gone is no error. */
  async kill(taskId: string, signal: number, { all, execId }: ProcessRef & { all?: boolean } = {}): Promise<void> {
    await this.c
      .call((md, o, cb) =>
        this.c.tasks.kill(tasksApi.KillRequest.fromPartial({ containerId: taskId, execId, signal, all }), md, o, cb),
      )
      .catch(ignoreNotFound);
  }

  /** Deletes an exec'd process once it has ended. */
  async deleteExec(taskId: string, execId: string): Promise<void> {
    await this.c.call((md, o, cb) =>
      this.c.tasks.deleteProcess(tasksApi.DeleteProcessRequest.fromPartial({ containerId: taskId, execId }), md, o, cb),
    );
  }

  /** Deletes the container's task, record and snapshot, whichever of them are there. */
  async remove(taskId: string): Promise<void> {
    await this.c
      .call((md, o, cb) =>
        this.c.tasks.delete(tasksApi.DeleteTaskRequest.fromPartial({ containerId: taskId }), md, o, cb),
      )
      .catch(ignoreNotFound);
    await this.c
      .call((md, o, cb) =>
        this.c.containers.delete(containersApi.DeleteContainerRequest.fromPartial({ id: taskId }), md, o, cb),
      )
      .catch(ignoreNotFound);
    await this.c
      .call((md, o, cb) =>
        this.c.snapshots.remove(
          snapshotsApi.RemoveSnapshotRequest.fromPartial({ snapshotter: SNAPSHOTTER, key: taskId }),
          md,
          o,
          cb,
        ),
      )
      .catch(ignoreNotFound);
  }

  /** The container's record; fails with not-found when there is none. */
  async get(taskId: string): Promise<containersApi.Container | undefined> {
    const { container } = await this.c.call<containersApi.GetContainerResponse>((md, o, cb) =>
      this.c.containers.get(containersApi.GetContainerRequest.fromPartial({ id: taskId }), md, o, cb),
    );
    return container;
  }

  /** The main process's status and PID, or nothing when the container has no task. */
  async process(taskId: string): Promise<{ status?: ProcessStatus; pid?: number }> {
    try {
      const got = await this.c.call<tasksApi.GetResponse>((md, o, cb) =>
        this.c.tasks.get(tasksApi.GetRequest.fromPartial({ containerId: taskId }), md, o, cb),
      );
      return { status: got.process?.status, pid: got.process?.pid };
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
  }

  /** The IDs of this node's containers (by their node label). */
  async ids(): Promise<string[]> {
    const { containers } = await this.c.call<containersApi.ListContainersResponse>((md, o, cb) =>
      this.c.containers.list(
        containersApi.ListContainersRequest.fromPartial({ filters: [`labels."flotilla.node.id"==${this.nodeId}`] }),
        md,
        o,
        cb,
      ),
    );
    return containers.map((c) => c.id);
  }
}

/** For deletes and kills: what they were to end is gone already. */
function ignoreNotFound(err: unknown): void {
  if (isNotFound(err)) return;
  throw err;
}
