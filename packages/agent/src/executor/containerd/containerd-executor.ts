import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthCheck, Task } from '@flotilla/api';
import { Containerd, type containersApi, isNotFound, type Mount, ProcessStatus } from '@flotilla/containerd';
import { createLogger, type Logger } from '@flotilla/observability';
import type { TaskAttachment } from '@flotilla/overlay';
import { errorMessage } from '../../error-message.js';
import {
  type ExecResult,
  type Executor,
  type Exit,
  type NetworkProbe,
  type Progress,
  RejectedError,
  type TaskFileContent,
  type TaskOutput,
} from '../executor.js';
import { privilegedCapabilities } from './capabilities.js';
import { type ExecBase, execInContainer, probeInNamespace } from './container-exec.js';
import { OomEvents, waitForExit } from './container-exit.js';
import { makeMountSources, type VolumeDirs } from './container-mounts.js';
import { DriverVolumes } from './driver-volumes.js';
import { writeEtcFiles } from './etc-files.js';
import { ImageAccounts } from './image-accounts.js';
import { imageHealthcheck } from './image-config.js';
import { type ImageSource, ImageStore, type LocalImage } from './image-store.js';
import { besideMain } from './main-task.js';
import { NodeContainers, SNAPSHOTTER } from './node-containers.js';
import { pullError } from './registry-source.js';
import { buildRuntimeSpec, type SpecContext } from './runtime-spec.js';
import { signalNumber } from './signals.js';
import { TaskFileMounts } from './task-file-mounts.js';
import { TaskIo } from './task-io.js';
import { needsAccountFiles, resolveContainerUser } from './user-lookup.js';

export interface ContainerdExecutorOptions {
  /** containerd's gRPC socket (default /run/containerd/containerd.sock). */
  socket?: string;
  /** containerd namespace for this node's containers (default `flotilla`). */
  namespace?: string;
  /** The agent's state directory: FIFOs, /etc files and named volumes live under it. */
  stateDir: string;
  /** Where images come from (the registry client). */
  images: ImageSource;
  /** This node's ID, put on every container as a label. */
  nodeId: string;
  output?: TaskOutput;
  /** tini on the host, for `init: true` (default /usr/bin/tini-static, from Debian's tini). */
  initPath?: string;
  /** busybox on the node, for HTTP and TCP probes inside containers (default /bin/busybox, Debian busybox-static). */
  probeTool?: string;
  /** Images unused for this long are removed (default 30 minutes). */
  imageTtlMs?: number;
  /** The node's default seccomp profile and what its rules depend on (see SpecContext.seccomp). */
  seccomp?: SpecContext['seccomp'];
  /** How often unused images are looked for (default 5 minutes; 0: never). */
  imageGcIntervalMs?: number;
  /** The overlay driver: tasks with networks get a namespace wired into them. Without it, loopback only. */
  network?: TaskNetworking;
  /**
   * How long a task on a network keeps running after it was told to stop, before its stop signal: the nodes
   * take it out of their load balancing meanwhile, so no new connection reaches a stopping task (default 0).
   */
  drainMs?: number;
  /** Where failures the executor gets past are logged (default: a logger of its own). */
  logger?: Logger;
}

/** What the executor needs of the overlay driver (@flotilla/network/node's NodeNetwork). */
export interface TaskNetworking {
  attach(task: Task): Promise<TaskAttachment | undefined>;
  detach(taskId: string): Promise<void>;
}

interface Running {
  task: Task;
  io: TaskIo;
  exited?: Promise<Exit>;
  image?: string;
  /** The image's HEALTHCHECK, for a service that sets none. */
  imageHealthcheck?: HealthCheck;
  /** The container's first process on the node (for entering its network namespace). */
  pid?: number;
  /** The image's STOPSIGNAL, for a service that sets none. */
  imageStopSignal?: string;
  /** The container's own process settings, which a command run inside it inherits (user, env, capabilities). */
  execBase?: ExecBase;
}

/**
 * Runs tasks as containers through containerd's gRPC API (runc underneath), the way dockerd and the kubelet do.
 * Container IDs are task IDs (unique across the cluster), labelled with task, service and node; containers live
 * in one containerd namespace per node and survive an agent restart, which takes them back with adopt().
 */
export class ContainerdExecutor implements Executor {
  readonly name = 'containerd';
  readonly liveRestore = true;
  readonly deliversFiles = true;
  readonly c: Containerd;
  readonly images: ImageStore;
  private readonly containers: NodeContainers;
  private readonly accounts: ImageAccounts;
  private readonly oom: OomEvents;
  /** Each task's secrets and configs, on a tmpfs of its own. */
  readonly files: TaskFileMounts;
  /** Named volumes the node mounts from their driver_opts (NFS, tmpfs, binds), while tasks here use them. */
  private readonly volumes: DriverVolumes;
  /** Those left from before the agent started, cleared before a task gets any. */
  private readonly leftovers: Promise<void>;
  private readonly log: Logger;
  private readonly tasks = new Map<string, Running>();
  private closed = false;
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ContainerdExecutorOptions) {
    this.c = new Containerd(options.socket ?? '/run/containerd/containerd.sock', options.namespace ?? 'flotilla');
    this.images = new ImageStore(this.c, options.images, { snapshotter: SNAPSHOTTER, unusedTtlMs: options.imageTtlMs });
    this.containers = new NodeContainers(this.c, options.nodeId);
    this.accounts = new ImageAccounts(this.c, options.stateDir, SNAPSHOTTER);
    this.oom = new OomEvents(this.c);
    this.log = options.logger ?? createLogger('containerd-executor');
    this.files = new TaskFileMounts(path.join(options.stateDir, 'files'));
    this.volumes = new DriverVolumes(path.join(options.stateDir, 'volumes'), this.log);
    this.leftovers = this.files
      .clean()
      .then(() => undefined)
      .catch((err: unknown) =>
        this.log.warn({ err: errorMessage(err) }, 'secrets and configs left from before not removed'),
      );
    const every = options.imageGcIntervalMs ?? 5 * 60_000;
    if (every > 0) {
      this.gcTimer = setInterval(
        () =>
          void this.gcImages().catch((err: unknown) =>
            this.log.warn({ err: errorMessage(err) }, 'unused images not removed: tried again later'),
          ),
        every,
      );
      this.gcTimer.unref();
    }
  }

  /** The worker has the managers' full assignment set and has adopted what it could: the rest are orphans. */
  async reconcile(known: ReadonlySet<string>): Promise<void> {
    await this.removeOrphans(known);
    await this.files.clean(new Set([...known, ...this.tasks.keys()]));
    await this.volumes.clean();
  }

  /**
   * Stops and removes this node's containers that no task here claims: left from before an agent restart and
   * not adopted, because the managers no longer assign them. Returns their IDs. Called only once the managers
   * have said what the node runs, so a node cut off from them after a restart keeps its containers.
   */
  async removeOrphans(known: ReadonlySet<string> = new Set()): Promise<string[]> {
    const orphans = (await this.containerIds()).filter((id) => !this.tasks.has(id) && !known.has(id));
    for (const id of orphans) {
      await this.containers.kill(id, 9, { all: true });
      // Only a moment for the kill to take: a container still running then makes remove() fail, and says why.
      await this.containers.wait(id, { timeoutMs: 10_000 }).catch(() => undefined);
      await this.remove(id);
    }
    return orphans;
  }

  /** containerd's version, which also proves it answers (the agent reports it as the node's runtime). */
  async runtimeVersion(): Promise<string> {
    const v = await this.c.call<{ version: string }>((md, o, cb) => this.c.version.version({}, md, o, cb), {
      timeoutMs: 5_000,
    });
    return v.version;
  }

  async prepare(task: Task, progress?: Progress, files: TaskFileContent[] = []): Promise<void> {
    const ref = task.spec?.image;
    if (!ref) throw new RejectedError('the service names no image: containers need one');
    let image: LocalImage;
    try {
      image = await this.images.ensure(ref, progress);
    } catch (err) {
      throw pullError(ref, err);
    }
    const spec = await this.runtimeSpec(task, image, files);
    const io = new TaskIo(path.join(this.taskDir(task.id), 'io'), task.id, this.options.output);
    this.tasks.set(task.id, {
      task,
      io,
      image: image.name,
      ...imageHealthcheck(image.config),
      ...(image.config.StopSignal ? { imageStopSignal: image.config.StopSignal } : {}),
      execBase: spec.process as ExecBase,
    });
    // The container first: it references the snapshot key, so the garbage collector leaves the snapshot alone.
    await this.containers.create(task, image.name, spec);
    const rootfs = await this.prepareSnapshot(task.id, ref, image);
    await io.open();
    await this.containers.createTask(task.id, rootfs, io);
  }

  async start(task: Task): Promise<void> {
    const run = this.tasks.get(task.id);
    if (!run) throw new RejectedError(`task ${task.id} was not prepared`);
    run.pid = await this.containers.start(task.id);
    run.exited = this.waitForExit(task.id);
  }

  wait(taskId: string): Promise<Exit> {
    return this.tasks.get(taskId)?.exited ?? Promise.resolve({ exitCode: 0 });
  }

  async shutdown(taskId: string, signal: string, graceMs: number, options?: { drain?: boolean }): Promise<void> {
    const run = this.tasks.get(taskId);
    if (!run?.exited) return;
    const ended = run.exited.then(() => true);
    const drainMs = options?.drain === false ? 0 : (this.options.drainMs ?? 0);
    if (drainMs > 0 && this.options.network && run.task.networks.length > 0 && !run.task.spec?.hostNetwork) {
      // Out of every node's load balancing already (a task told to stop is not ready): open connections finish.
      await Promise.race([ended, sleep(drainMs)]);
    }
    await this.containers.kill(taskId, signalNumber(signal || run.imageStopSignal || 'SIGTERM'));
    const inTime = await Promise.race([ended, sleep(graceMs).then(() => false)]);
    if (!inTime) {
      await this.containers.kill(taskId, 9, { all: true });
      await Promise.race([ended, sleep(10_000)]);
    }
  }

  async remove(taskId: string): Promise<void> {
    const run = this.tasks.get(taskId);
    this.tasks.delete(taskId);
    await run?.io.close();
    await this.containers.remove(taskId);
    await this.files.unmount(taskId);
    await this.volumes.release(taskId);
    this.oom.forget(taskId);
    await this.options.network?.detach(taskId);
    rmSync(this.taskDir(taskId), { recursive: true, force: true });
  }

  async exec(taskId: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const run = this.tasks.get(taskId);
    if (!run?.execBase) return { exitCode: 126, output: 'the container is not running' };
    return execInContainer(this.containers, { taskId, base: run.execBase, dir: this.taskDir(taskId) }, argv, timeoutMs);
  }

  imageHealthcheck(taskId: string): HealthCheck | undefined {
    return this.tasks.get(taskId)?.imageHealthcheck;
  }

  /** HTTP and TCP probes reach the container at 127.0.0.1 inside its own network namespace (see probeInNamespace). */
  async networkProbe(taskId: string, probe: NetworkProbe, timeoutMs: number): Promise<ExecResult> {
    const pid = this.tasks.get(taskId)?.pid;
    if (!pid) return { exitCode: 126, output: 'the container is not running' };
    return probeInNamespace(pid, probe, timeoutMs, this.options.probeTool ?? '/bin/busybox');
  }

  async adopt(task: Task): Promise<boolean> {
    let container: containersApi.Container | undefined;
    try {
      container = await this.containers.get(task.id);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    const { status, pid } = await this.containers.process(task.id);
    const io = new TaskIo(path.join(this.taskDir(task.id), 'io'), task.id, this.options.output);
    const run: Running = { task, io, image: container?.image, ...(pid ? { pid } : {}) };
    this.tasks.set(task.id, run);
    if (status !== ProcessStatus.RUNNING) {
      // It ended while the agent was away: what is left of it goes, and the task is reported lost.
      await this.remove(task.id);
      return false;
    }
    // Its driver volumes are still mounted (mounts outlive the agent): counted again, so they stay while it runs.
    await this.volumes.acquire(task);
    const spec = JSON.parse(container?.spec?.value.toString() ?? '{}') as { process?: ExecBase };
    run.execBase = spec.process ?? { env: [], cwd: '/', user: { uid: 0, gid: 0 } };
    if (container?.image) Object.assign(run, await this.adoptedHealthcheck(task.id, container.image));
    await io.open();
    run.exited = this.waitForExit(task.id);
    return true;
  }

  /** Containers of this node in containerd, by task ID (to find ones no assignment claims). */
  containerIds(): Promise<string[]> {
    return this.containers.ids();
  }

  /** Removes images no task here uses and nobody used for the TTL. */
  gcImages(): Promise<string[]> {
    const inUse = new Set([...this.tasks.values()].map((r) => r.image).filter((n): n is string => !!n));
    return this.images.gc(inUse);
  }

  close(): void {
    this.closed = true;
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.oom.close();
    for (const run of this.tasks.values()) void run.io.close(0);
    this.c.close();
  }

  /**
   * The container's OCI runtime spec, once what it needs is on the node: its user resolved against the image,
   * its volume directories and bind sources (all checked before anything is made), its network and /etc files.
   */
  private async runtimeSpec(task: Task, image: LocalImage, files: TaskFileContent[]): Promise<Record<string, unknown>> {
    const dir = this.taskDir(task.id);
    const dirs: VolumeDirs = {
      volumesDir: path.join(this.options.stateDir, 'volumes'),
      anonymousDir: path.join(dir, 'volumes'),
    };
    const userSetting = task.spec?.user || image.config.User || '';
    const user = needsAccountFiles(userSetting)
      ? resolveContainerUser(userSetting, await this.accounts.get(image))
      : undefined;
    await this.volumes.acquire(task);
    makeMountSources(task, dirs);
    await this.leftovers;
    const fileMounts = await this.files.mount(task.id, files);
    // A sidecar joins its main task's network namespace; other tasks get one of their own (or the node's).
    const beside = besideMain(
      task,
      (id) => this.tasks.get(id)?.pid,
      (id) => this.taskDir(id),
    );
    const attachment = task.spec?.hostNetwork || beside ? undefined : await this.options.network?.attach(task);
    const netns = task.spec?.hostNetwork ? ('host' as const) : (beside ?? attachment)?.netns;
    return buildRuntimeSpec(task, image.config, {
      ...dirs,
      etcFiles: beside?.etcFiles ?? writeEtcFiles(dir, task, attachment),
      initPath: this.options.initPath ?? '/usr/bin/tini-static',
      cgroupsPath: this.cgroupsPath(task.id),
      cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
      ...(user ? { user } : {}),
      ...(fileMounts.length > 0 ? { fileMounts } : {}),
      ...(this.options.seccomp ? { seccomp: this.options.seccomp } : {}),
      ...(task.spec?.privileged ? { privilegedCapabilities: privilegedCapabilities() } : {}),
      // Without networks (or without the overlay), a task has a namespace of its own with only loopback.
      ...(netns ? { netns } : {}),
    });
  }

  /** The container's root filesystem on the image's layers. */
  private async prepareSnapshot(taskId: string, ref: string, image: LocalImage): Promise<Mount[]> {
    try {
      return await this.containers.prepareSnapshot(taskId, image.chainId);
    } catch (err) {
      // The image's layers went (garbage-collected meanwhile): look again next time, and fail (not reject)
      // so the task is retried.
      if (isNotFound(err)) this.images.forget(ref);
      throw new Error(errorMessage(err));
    }
  }

  /** The HEALTHCHECK of an adopted container's image: the image is on the node (the container was made from it). */
  private async adoptedHealthcheck(taskId: string, ref: string): Promise<{ imageHealthcheck?: HealthCheck }> {
    try {
      return imageHealthcheck((await this.images.ensure(ref)).config);
    } catch (err) {
      this.log.warn({ task: taskId, image: ref, err: errorMessage(err) }, "adopted without its image's HEALTHCHECK");
      return {};
    }
  }

  private waitForExit(taskId: string): Promise<Exit> {
    return waitForExit(taskId, {
      containers: this.containers,
      oom: this.oom,
      cgroupsPath: this.cgroupsPath(taskId),
      closed: () => this.closed,
    });
  }

  private cgroupsPath(taskId: string): string {
    return `/flotilla/${this.c.namespace}/${taskId}`;
  }

  private taskDir(taskId: string): string {
    return path.join(this.options.stateDir, 'containers', taskId);
  }
}
