import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Containerd, eventsApi, isNotFound, taskEvents } from '@flotilla/containerd';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Exit } from '../executor.js';
import { oomKillCount } from '../oom-kills.js';
import type { NodeContainers } from './node-containers.js';
import { signalName } from './signals.js';

/** How long an OOM event may trail the exit it caused. */
const OOM_EVENT_GRACE_MS = 200;
/** Waiting for a container's end has no deadline of its own (a year stands for none). */
const WAIT_FOREVER_MS = 365 * 24 * 3600_000;

/**
 * containerd's OOM events for the namespace: OOM kills arrive as events, not in the exit status, so a note is kept
 * of which containers had one. The subscription is made again when it breaks (containerd restarted).
 */
export class OomEvents {
  private readonly killed = new Set<string>();
  private stream: ClientReadableStream<eventsApi.Envelope> | undefined;
  private closed = false;

  constructor(private readonly c: Containerd) {
    this.subscribe();
  }

  has(containerId: string): boolean {
    return this.killed.has(containerId);
  }

  forget(containerId: string): void {
    this.killed.delete(containerId);
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
  }

  private subscribe(): void {
    if (this.closed) return;
    const stream = this.c.events.subscribe(
      eventsApi.SubscribeRequest.fromPartial({
        filters: [`namespace=="${this.c.namespace}",topic=="/tasks/oom"`],
      }),
    );
    this.stream = stream;
    stream.on('data', (envelope: eventsApi.Envelope) => {
      if (!envelope.event?.value) return;
      try {
        const oom = taskEvents.TaskOOM.decode(envelope.event.value);
        this.killed.add(oom.containerId);
      } catch {
        // not an OOM event after all
      }
    });
    let again = false;
    // The stream's error needs no handling beyond this: a broken subscription is made again in a second.
    const resubscribe = () => {
      if (this.closed || again) return;
      again = true;
      setTimeout(() => this.subscribe(), 1_000).unref();
    };
    stream.on('error', resubscribe);
    stream.on('end', resubscribe);
  }
}

/** What waiting for a container's end needs of the executor. */
export interface ExitContext {
  containers: NodeContainers;
  oom: OomEvents;
  /** The container's cgroup path (as in its runtime spec). */
  cgroupsPath: string;
  /** The executor was closed: waiting stops. */
  closed: () => boolean;
}

/** Resolves with how the container's main process ended; a lost containerd connection is retried. */
export async function waitForExit(taskId: string, ctx: ExitContext): Promise<Exit> {
  for (;;) {
    try {
      const code = await ctx.containers.wait(taskId, { timeoutMs: WAIT_FOREVER_MS });
      // The cgroup's own count first (the container's cgroup stays until the task is deleted); the event as
      // a second witness, given a moment since it may trail the exit.
      let oom = code === 137 && oomKills(ctx.cgroupsPath) > 0;
      if (!oom && !ctx.oom.has(taskId) && code === 137) await sleep(OOM_EVENT_GRACE_MS);
      oom ||= ctx.oom.has(taskId);
      const oomKilled = oom || undefined;
      return {
        exitCode: code,
        ...(oomKilled ? { oomKilled } : {}),
        ...(code > 128 && code < 160 ? { signal: signalName(code - 128) } : {}),
      };
    } catch (err) {
      if (isNotFound(err)) return { exitCode: 255 };
      if (ctx.closed()) return { exitCode: 255 };
      // containerd is away (restarting, or the connection broke): the container runs on, so ask again.
      await sleep(1_000);
    }
  }
}

/** How many processes the kernel killed for memory in a cgroup (v2 `memory.events`, v1 `memory.oom_control`). */
function oomKills(cgroupsPath: string): number {
  for (const file of [
    `/sys/fs/cgroup${cgroupsPath}/memory.events`,
    `/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`,
  ]) {
    try {
      const count = oomKillCount(readFileSync(file, 'utf8'));
      if (count !== undefined) return count;
    } catch {
      // not this cgroup version, or already removed
    }
  }
  return 0;
}
