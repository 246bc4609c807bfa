import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Code, FlotillaError, HealthCheck, type Task } from '@flotilla/api';
import {
  Containerd,
  containersApi,
  eventsApi,
  ProcessStatus,
  snapshotsApi,
  taskEvents,
  tasksApi,
  withLease,
} from '@flotilla/containerd';
import type { TaskAttachment } from '@flotilla/overlay';
import type { ClientReadableStream } from '@grpc/grpc-js';
import {
  type ExecResult,
  type Executor,
  type Exit,
  type NetworkProbe,
  type Progress,
  RejectedError,
  type TaskOutput,
} from '../executor.js';
import { runCommand } from '../run-command.js';
import { type ImageSource, ImageStore, type LocalImage } from './image-store.js';
import { buildExecProcess, buildRuntimeSpec, type ImageConfig, signalNumber, volumeSources } from './runtime-spec.js';
import { TaskIo } from './task-io.js';
import { type AccountFiles, needsAccountFiles, resolveContainerUser } from './user-lookup.js';

const run = promisify(execFile);

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
  /** How often unused images are looked for (default 5 minutes; 0: never). */
  imageGcIntervalMs?: number;
  /** The overlay driver: tasks with networks get a namespace wired into them. Without it, loopback only. */
  network?: TaskNetworking;
  /**
   * How long a task on a network keeps running after it was told to stop, before its stop signal: the nodes
   * take it out of their load balancing meanwhile, so no new connection reaches a stopping task (default 0).
   */
  drainMs?: number;
}

/** What the executor needs of the overlay driver (@flotilla/network/node's NodeNetwork). */
export interface TaskNetworking {
  attach(task: Task): Promise<TaskAttachment | undefined>;
  detach(taskId: string): Promise<void>;
}

/** The OCI process of a container, as far as a command run inside it (exec) inherits it. */
type ExecBase = Record<string, unknown> & { env?: string[]; cwd?: string };

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

const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const PROCESS_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
const RUNTIME = 'io.containerd.runc.v2';
const SNAPSHOTTER = 'overlayfs';
/** How long an OOM event may trail the exit it caused. */
const OOM_EVENT_GRACE_MS = 200;

/**
 * Runs tasks as containers through containerd's gRPC API (runc underneath), the way dockerd and the kubelet do.
 * Container IDs are task IDs (unique across the cluster), labelled with task, service and node; containers live
 * in one containerd namespace per node and survive an agent restart, which takes them back with adopt().
 */
export class ContainerdExecutor implements Executor {
  readonly name = 'containerd';
  readonly liveRestore = true;
  readonly c: Containerd;
  readonly images: ImageStore;
  private readonly tasks = new Map<string, Running>();
  private readonly oomKilled = new Set<string>();
  private readonly accounts = new Map<string, Promise<AccountFiles>>();
  private events: ClientReadableStream<eventsApi.Envelope> | undefined;
  private closed = false;
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ContainerdExecutorOptions) {
    this.c = new Containerd(options.socket ?? '/run/containerd/containerd.sock', options.namespace ?? 'flotilla');
    this.images = new ImageStore(this.c, options.images, { snapshotter: SNAPSHOTTER, unusedTtlMs: options.imageTtlMs });
    this.subscribe();
    const every = options.imageGcIntervalMs ?? 5 * 60_000;
    if (every > 0) {
      this.gcTimer = setInterval(() => void this.gcImages().catch(() => undefined), every);
      this.gcTimer.unref();
    }
  }

  /** The worker has the managers' full assignment set and has adopted what it could: the rest are orphans. */
  async reconcile(known: ReadonlySet<string>): Promise<void> {
    await this.removeOrphans(known);
  }

  /**
   * Stops and removes this node's containers that no task here claims: left from before an agent restart and
   * not adopted, because the managers no longer assign them. Returns their IDs. Called only once the managers
   * have said what the node runs, so a node cut off from them after a restart keeps its containers.
   */
  async removeOrphans(known: ReadonlySet<string> = new Set()): Promise<string[]> {
    const orphans = (await this.containerIds()).filter((id) => !this.tasks.has(id) && !known.has(id));
    for (const id of orphans) {
      await this.kill(id, 9, true);
      await this.c
        .call<tasksApi.WaitResponse>(
          (md, o, cb) => this.c.tasks.wait(tasksApi.WaitRequest.fromPartial({ containerId: id }), md, o, cb),
          { timeoutMs: 10_000 },
        )
        .catch(() => undefined);
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

  async prepare(task: Task, progress?: Progress): Promise<void> {
    const ref = task.spec?.image;
    if (!ref) throw new RejectedError('the service names no image: containers need one');
    let image: LocalImage;
    try {
      image = await this.images.ensure(ref, progress);
    } catch (err) {
      throw pullError(ref, err);
    }
    const dir = this.taskDir(task.id);
    const volumesDir = path.join(this.options.stateDir, 'volumes');
    const anonymousDir = path.join(dir, 'volumes');
    const userSetting = task.spec?.user || image.config.User || '';
    const user = needsAccountFiles(userSetting)
      ? resolveContainerUser(userSetting, await this.accountFiles(image))
      : undefined;
    // Checked (names, subpaths, bind sources) before anything is made on the node.
    const sources = volumeSources(task, { volumesDir, anonymousDir });
    for (const { base, source } of sources.volumes) {
      mkdirSync(source, { recursive: true });
      // A symlink a task left inside a volume must not lead a later mount out of it.
      const real = realpathSync(source);
      const inside = realpathSync(base);
      if (real !== inside && !real.startsWith(`${inside}/`)) {
        throw new RejectedError(`the volume mounted from ${source} leads outside its volume: remove the symlink`);
      }
    }
    for (const m of sources.binds) {
      if (existsSync(m.source)) continue;
      if (!m.bindCreateHostPath) {
        throw new RejectedError(
          `the bind mount source ${m.source} does not exist on this node: create it, or set bind.create_host_path`,
        );
      }
      mkdirSync(m.source, { recursive: true });
    }
    const attachment = task.spec?.hostNetwork ? undefined : await this.options.network?.attach(task);
    const etc = writeEtcFiles(dir, task, attachment);
    const spec = buildRuntimeSpec(task, image.config, {
      volumesDir,
      anonymousDir,
      etcFiles: etc,
      initPath: this.options.initPath ?? '/usr/bin/tini-static',
      cgroupsPath: this.cgroupsPath(task.id),
      cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
      ...(user ? { user } : {}),
      // Without networks (or without the overlay), a task has a namespace of its own with only loopback.
      ...(task.spec?.hostNetwork ? { netns: 'host' as const } : attachment ? { netns: attachment.netns } : {}),
    });
    const io = new TaskIo(path.join(dir, 'io'), task.id, this.options.output);
    this.tasks.set(task.id, {
      task,
      io,
      image: image.name,
      ...imageHealthcheck(image.config),
      ...(image.config.StopSignal ? { imageStopSignal: image.config.StopSignal } : {}),
      execBase: spec.process as ExecBase,
    });
    const container = containersApi.Container.fromPartial({
      id: task.id,
      image: image.name,
      labels: {
        'flotilla.task.id': task.id,
        'flotilla.service.id': task.serviceId,
        'flotilla.service.name': task.serviceName,
        'flotilla.slot': String(task.slot),
        'flotilla.node.id': this.options.nodeId,
      },
      runtime: { name: RUNTIME },
      spec: { typeUrl: SPEC_TYPE, value: Buffer.from(JSON.stringify(spec)) },
      snapshotter: SNAPSHOTTER,
      snapshotKey: task.id,
    });
    // The container first: it references the snapshot key, so the garbage collector leaves the snapshot alone.
    await this.c.call(
      (md, o, cb) =>
        this.c.containers.create(containersApi.CreateContainerRequest.fromPartial({ container }), md, o, cb),
      { what: 'creating the container' },
    );
    let prepared: snapshotsApi.PrepareSnapshotResponse;
    try {
      prepared = await this.c.call<snapshotsApi.PrepareSnapshotResponse>(
        (md, o, cb) =>
          this.c.snapshots.prepare(
            snapshotsApi.PrepareSnapshotRequest.fromPartial({
              snapshotter: SNAPSHOTTER,
              key: task.id,
              parent: image.chainId,
            }),
            md,
            o,
            cb,
          ),
        { what: 'preparing the container filesystem' },
      );
    } catch (err) {
      // The image's layers went (garbage-collected meanwhile): look again next time, and fail (not reject)
      // so the task is retried.
      if (err instanceof FlotillaError && err.code === Code.NotFound) this.images.forget(ref);
      throw new Error(err instanceof Error ? err.message : String(err));
    }
    await io.open();
    await this.c.call(
      (md, o, cb) =>
        this.c.tasks.create(
          tasksApi.CreateTaskRequest.fromPartial({
            containerId: task.id,
            rootfs: prepared.mounts,
            stdout: io.stdout,
            stderr: io.stderr,
          }),
          md,
          o,
          cb,
        ),
      { what: 'creating the container process', timeoutMs: 60_000 },
    );
  }

  async start(task: Task): Promise<void> {
    const run = this.tasks.get(task.id);
    if (!run) throw new RejectedError(`task ${task.id} was not prepared`);
    const started = await this.c.call<tasksApi.StartResponse>(
      (md, o, cb) => this.c.tasks.start(tasksApi.StartRequest.fromPartial({ containerId: task.id }), md, o, cb),
      { what: 'starting the container' },
    );
    run.pid = started.pid;
    run.exited = this.waitForExit(task.id);
  }

  wait(taskId: string): Promise<Exit> {
    return this.tasks.get(taskId)?.exited ?? Promise.resolve({ exitCode: 0 });
  }

  async shutdown(taskId: string, signal: string, graceMs: number): Promise<void> {
    const run = this.tasks.get(taskId);
    if (!run?.exited) return;
    const ended = run.exited.then(() => true);
    const drainMs = this.options.drainMs ?? 0;
    if (drainMs > 0 && this.options.network && run.task.networks.length > 0 && !run.task.spec?.hostNetwork) {
      // Out of every node's load balancing already (a task told to stop is not ready): open connections finish.
      await Promise.race([ended, sleep(drainMs)]);
    }
    await this.kill(taskId, signalNumber(signal || run.imageStopSignal || 'SIGTERM'), false);
    const inTime = await Promise.race([ended, sleep(graceMs).then(() => false)]);
    if (!inTime) {
      await this.kill(taskId, 9, true);
      await Promise.race([ended, sleep(10_000)]);
    }
  }

  async remove(taskId: string): Promise<void> {
    const run = this.tasks.get(taskId);
    this.tasks.delete(taskId);
    await run?.io.close();
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
    this.oomKilled.delete(taskId);
    await this.options.network?.detach(taskId);
    rmSync(this.taskDir(taskId), { recursive: true, force: true });
  }

  async exec(taskId: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const run = this.tasks.get(taskId);
    if (!run?.execBase) return { exitCode: 126, output: 'the container is not running' };
    const execId = `exec-${randomBytes(4).toString('hex')}`;
    let output = '';
    const io = new TaskIo(path.join(this.taskDir(taskId), execId), taskId, (_id, _stream, lines) => {
      if (output.length < 4096) output = `${output}${lines.join('\n')}\n`.slice(0, 4096);
    });
    await io.open();
    try {
      const spec = buildExecProcess(argv, run.execBase);
      await this.c.call((md, o, cb) =>
        this.c.tasks.exec(
          tasksApi.ExecProcessRequest.fromPartial({
            containerId: taskId,
            execId,
            stdout: io.stdout,
            stderr: io.stderr,
            spec: { typeUrl: PROCESS_TYPE, value: Buffer.from(JSON.stringify(spec)) },
          }),
          md,
          o,
          cb,
        ),
      );
      await this.c.call((md, o, cb) =>
        this.c.tasks.start(tasksApi.StartRequest.fromPartial({ containerId: taskId, execId }), md, o, cb),
      );
      const waited = this.c.call<tasksApi.WaitResponse>(
        (md, o, cb) => this.c.tasks.wait(tasksApi.WaitRequest.fromPartial({ containerId: taskId, execId }), md, o, cb),
        { timeoutMs: timeoutMs + 5_000 },
      );
      const result = await Promise.race([waited, sleep(timeoutMs).then(() => undefined)]);
      if (!result) {
        await this.c
          .call((md, o, cb) =>
            this.c.tasks.kill(tasksApi.KillRequest.fromPartial({ containerId: taskId, execId, signal: 9 }), md, o, cb),
          )
          .catch(() => undefined);
        await waited.catch(() => undefined);
        await io.close(20);
        return { exitCode: 137, output: output.trimEnd(), timedOut: true };
      }
      await io.close(20);
      return { exitCode: result.exitStatus, output: output.trimEnd() };
    } catch (err) {
      return { exitCode: 126, output: err instanceof Error ? err.message : String(err) };
    } finally {
      await this.c
        .call((md, o, cb) =>
          this.c.tasks.deleteProcess(
            tasksApi.DeleteProcessRequest.fromPartial({ containerId: taskId, execId }),
            md,
            o,
            cb,
          ),
        )
        .catch(() => undefined);
      await io.remove();
    }
  }

  imageHealthcheck(taskId: string): HealthCheck | undefined {
    return this.tasks.get(taskId)?.imageHealthcheck;
  }

  /**
   * HTTP and TCP probes reach the container at 127.0.0.1 inside its own network namespace: busybox's wget or
   * nc run there through nsenter, which costs far less than an exec through containerd and runc.
   */
  async networkProbe(taskId: string, probe: NetworkProbe, timeoutMs: number): Promise<ExecResult> {
    const pid = this.tasks.get(taskId)?.pid;
    if (!pid) return { exitCode: 126, output: 'the container is not running' };
    const tool = this.options.probeTool ?? '/bin/busybox';
    if (!existsSync(tool)) {
      return {
        exitCode: 127,
        output: `HTTP and TCP probes of containers need busybox on the node (${tool}): apt-get install busybox-static`,
      };
    }
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    // The timeout is the process's (busybox 1.35's wget crashes on -T); nc's -e runs a program once connected:
    // `true` ends at once, and nc with it.
    const argv =
      probe.kind === 'http'
        ? [tool, 'wget', '-q', '-O', '-', `http://127.0.0.1:${probe.port}${probe.path}`]
        : [tool, 'nc', '-w', seconds, '127.0.0.1', String(probe.port), '-e', '/bin/true'];
    const { error: _error, ...result } = await runCommand(
      'nsenter',
      ['-t', String(pid), '-n', '--', ...argv],
      timeoutMs,
      1,
    );
    return { ...result, output: result.output.trim() };
  }

  async adopt(task: Task): Promise<boolean> {
    let container: containersApi.Container | undefined;
    try {
      ({ container } = await this.c.call<containersApi.GetContainerResponse>((md, o, cb) =>
        this.c.containers.get(containersApi.GetContainerRequest.fromPartial({ id: task.id }), md, o, cb),
      ));
    } catch (err) {
      if (err instanceof FlotillaError && err.code === Code.NotFound) return false;
      throw err;
    }
    let status: ProcessStatus | undefined;
    let pid: number | undefined;
    try {
      const got = await this.c.call<tasksApi.GetResponse>((md, o, cb) =>
        this.c.tasks.get(tasksApi.GetRequest.fromPartial({ containerId: task.id }), md, o, cb),
      );
      status = got.process?.status;
      pid = got.process?.pid;
    } catch (err) {
      if (!(err instanceof FlotillaError && err.code === Code.NotFound)) throw err;
    }
    const io = new TaskIo(path.join(this.taskDir(task.id), 'io'), task.id, this.options.output);
    const run: Running = { task, io, image: container?.image, ...(pid ? { pid } : {}) };
    this.tasks.set(task.id, run);
    if (status !== ProcessStatus.RUNNING) {
      // It ended while the agent was away: what is left of it goes, and the task is reported lost.
      await this.remove(task.id);
      return false;
    }
    const spec = JSON.parse(container?.spec?.value.toString() ?? '{}') as { process?: ExecBase };
    run.execBase = spec.process ?? { env: [], cwd: '/', user: { uid: 0, gid: 0 } };
    if (container?.image) {
      // The image is on the node (the container was made from it): its HEALTHCHECK applies again.
      const image = await this.images.ensure(container.image).catch(() => undefined);
      if (image) Object.assign(run, imageHealthcheck(image.config));
    }
    await io.open();
    run.exited = this.waitForExit(task.id);
    return true;
  }

  /** Containers of this node in containerd, by task ID (to find ones no assignment claims). */
  async containerIds(): Promise<string[]> {
    const { containers } = await this.c.call<containersApi.ListContainersResponse>((md, o, cb) =>
      this.c.containers.list(
        containersApi.ListContainersRequest.fromPartial({
          filters: [`labels."flotilla.node.id"==${this.options.nodeId}`],
        }),
        md,
        o,
        cb,
      ),
    );
    return containers.map((c) => c.id);
  }

  /** Removes images no task here uses and nobody used for the TTL. */
  gcImages(): Promise<string[]> {
    const inUse = new Set([...this.tasks.values()].map((r) => r.image).filter((n): n is string => !!n));
    return this.images.gc(inUse);
  }

  close(): void {
    this.closed = true;
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.events?.cancel();
    for (const run of this.tasks.values()) void run.io.close(0);
    this.c.close();
  }

  /**
   * The image's /etc/passwd and /etc/group, read through a read-only view of its layers mounted for a moment
   * (cached per image): what resolves `user: name` as Docker does.
   */
  private accountFiles(image: LocalImage): Promise<AccountFiles> {
    let files = this.accounts.get(image.chainId);
    if (!files) {
      files = withLease(this.c, async (lease) => {
        const key = `accounts-${randomBytes(6).toString('hex')}`;
        const view = await this.c.call<snapshotsApi.ViewSnapshotResponse>(
          (md, o, cb) =>
            this.c.snapshots.view(
              snapshotsApi.ViewSnapshotRequest.fromPartial({ snapshotter: SNAPSHOTTER, key, parent: image.chainId }),
              md,
              o,
              cb,
            ),
          { lease, what: "reading the image's users" },
        );
        const target = mkdtempSync(path.join(this.options.stateDir, 'view-'));
        try {
          for (const m of view.mounts) {
            // A one-layer view is a bind mount, which mount(8) takes as an option rather than a type.
            const options = [...m.options, 'ro'];
            const args =
              m.type === 'bind' ? ['-o', [...options, 'bind'].join(',')] : ['-t', m.type, '-o', options.join(',')];
            await run('mount', [...args, m.source, target]);
          }
          try {
            return { passwd: readImageFile(target, 'passwd'), group: readImageFile(target, 'group') };
          } finally {
            await run('umount', [target]).catch(() => undefined);
          }
        } finally {
          // Not recursive: if the unmount failed, the image's files must not be deleted through the mount point.
          try {
            rmdirSync(target);
          } catch {
            // still mounted: left for the operator rather than risked
          }
          await this.c
            .call((md, o, cb) =>
              this.c.snapshots.remove(
                snapshotsApi.RemoveSnapshotRequest.fromPartial({ snapshotter: SNAPSHOTTER, key }),
                md,
                o,
                cb,
              ),
            )
            .catch(() => undefined);
        }
      });
      this.accounts.set(image.chainId, files);
      files.catch(() => this.accounts.delete(image.chainId));
    }
    return files;
  }

  private cgroupsPath(taskId: string): string {
    return `/flotilla/${this.c.namespace}/${taskId}`;
  }

  private taskDir(taskId: string): string {
    return path.join(this.options.stateDir, 'containers', taskId);
  }

  private async kill(taskId: string, signal: number, all: boolean): Promise<void> {
    await this.c
      .call((md, o, cb) =>
        this.c.tasks.kill(tasksApi.KillRequest.fromPartial({ containerId: taskId, signal, all }), md, o, cb),
      )
      .catch(ignoreNotFound);
  }

  /** Resolves with how the container's main process ended; a lost containerd connection is retried. */
  private async waitForExit(taskId: string): Promise<Exit> {
    for (;;) {
      try {
        const res = await this.c.call<tasksApi.WaitResponse>(
          (md, o, cb) => this.c.tasks.wait(tasksApi.WaitRequest.fromPartial({ containerId: taskId }), md, o, cb),
          { timeoutMs: 365 * 24 * 3600_000 },
        );
        const code = res.exitStatus;
        // The cgroup's own count first (the container's cgroup stays until the task is deleted); the event as
        // a second witness, given a moment since it may trail the exit.
        let oom = code === 137 && oomKills(this.cgroupsPath(taskId)) > 0;
        if (!oom && !this.oomKilled.has(taskId) && code === 137) await sleep(OOM_EVENT_GRACE_MS);
        oom ||= this.oomKilled.has(taskId);
        const oomKilled = oom || undefined;
        return {
          exitCode: code,
          ...(oomKilled ? { oomKilled } : {}),
          ...(code > 128 && code < 160 ? { signal: signalName(code - 128) } : {}),
        };
      } catch (err) {
        if (err instanceof FlotillaError && err.code === Code.NotFound) return { exitCode: 255 };
        if (this.closed) return { exitCode: 255 };
        await sleep(1_000);
      }
    }
  }

  /** OOM kills arrive as events, not in the exit status: keep a note of which containers had one. */
  private subscribe(): void {
    if (this.closed) return;
    const stream = this.c.events.subscribe(
      eventsApi.SubscribeRequest.fromPartial({
        filters: [`namespace=="${this.c.namespace}",topic=="/tasks/oom"`],
      }),
    );
    this.events = stream;
    stream.on('data', (envelope: eventsApi.Envelope) => {
      if (!envelope.event?.value) return;
      try {
        const oom = taskEvents.TaskOOM.decode(envelope.event.value);
        this.oomKilled.add(oom.containerId);
      } catch {
        // not an OOM event after all
      }
    });
    let again = false;
    const resubscribe = () => {
      if (this.closed || again) return;
      again = true;
      setTimeout(() => this.subscribe(), 1_000).unref();
    };
    stream.on('error', resubscribe);
    stream.on('end', resubscribe);
  }
}

/**
 * The /etc files a container gets: its name and addresses, and its resolver: the node's DNS server on its first
 * network (cluster names, others forwarded), or the node's own resolvers without a network.
 */
function writeEtcFiles(
  dir: string,
  task: Task,
  attachment?: TaskAttachment,
): { hosts: string; hostname: string; resolvConf: string } {
  const etc = path.join(dir, 'etc');
  mkdirSync(etc, { recursive: true });
  const name = task.spec?.hostname || (task.spec?.hostNetwork ? hostname() : task.id.slice(0, 12));
  const files = {
    hosts: path.join(etc, 'hosts'),
    hostname: path.join(etc, 'hostname'),
    resolvConf: path.join(etc, 'resolv.conf'),
  };
  const own = attachment?.hostsLines.map((l) => `${l}\n`).join('') ?? '';
  writeFileSync(
    files.hosts,
    `127.0.0.1\tlocalhost${own ? '' : ` ${name}`}\n::1\tlocalhost ip6-localhost ip6-loopback\n${own}`,
  );
  writeFileSync(files.hostname, `${name}\n`);
  let resolv = attachment?.resolvConf ?? '';
  if (!resolv) {
    try {
      resolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // no resolvers on the node
    }
  }
  writeFileSync(files.resolvConf, resolv);
  return files;
}

/** Pull errors the task cannot get past on any retry are rejections; the rest (registry down) are failures. */
function pullError(ref: string, err: unknown): Error {
  // Only the registry's answers are final; they carry a reason (containerd's not-found, with none, means something
  // went missing locally).
  const code = err instanceof FlotillaError ? err.reason : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof RejectedError ||
    code === 'not-found' ||
    code === 'unauthorized' ||
    code === 'no-matching-platform' ||
    code === 'invalid-reference' ||
    code === 'unsupported-media-type'
  ) {
    return new RejectedError(message.includes(ref) ? message : `pulling ${ref}: ${message}`);
  }
  return new Error(message.includes(ref) ? message : `pulling ${ref}: ${message}`);
}

/** How many processes the kernel killed for memory in a cgroup (v2 `memory.events`, v1 `memory.oom_control`). */
function oomKills(cgroupsPath: string): number {
  for (const file of [
    `/sys/fs/cgroup${cgroupsPath}/memory.events`,
    `/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`,
  ]) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
      if (m) return Number(m[1]);
    } catch {
      // not this cgroup version, or already removed
    }
  }
  return 0;
}

/** Docker's HEALTHCHECK from an image config, in the cluster's terms. */
function imageHealthcheck(config: ImageConfig): { imageHealthcheck?: HealthCheck } {
  const h = config.Healthcheck;
  if (!h?.Test || h.Test.length === 0 || h.Test[0] === 'NONE') return {};
  return {
    imageHealthcheck: HealthCheck.fromPartial({
      test: h.Test,
      intervalNs: BigInt(h.Interval ?? 0),
      timeoutNs: BigInt(h.Timeout ?? 0),
      retries: h.Retries ?? 0,
      startPeriodNs: BigInt(h.StartPeriod ?? 0),
    }),
  };
}

/**
 * /etc/<name> of a mounted image, read on the node with care: the image controls these paths, so neither /etc nor
 * the file may be a symlink (it would be followed on the node, not in the image), the file must be a regular
 * file (a FIFO or device would block or never end), and it is capped at 1 MiB.
 */
function readImageFile(root: string, name: string): string | undefined {
  const etc = path.join(root, 'etc');
  const file = path.join(etc, name);
  try {
    if (!lstatSync(etc).isDirectory()) return undefined;
    const stat = lstatSync(file);
    if (!stat.isFile() || stat.size > 1024 * 1024) return undefined;
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      return readFileSync(fd, 'utf8').slice(0, 1024 * 1024);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function ignoreNotFound(err: unknown): void {
  if (err instanceof FlotillaError && err.code === Code.NotFound) return;
  throw err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalName(n: number): string {
  const names: Record<number, string> = {
    1: 'SIGHUP',
    2: 'SIGINT',
    3: 'SIGQUIT',
    6: 'SIGABRT',
    9: 'SIGKILL',
    15: 'SIGTERM',
  };
  return names[n] ?? `signal ${n}`;
}
