import type {
  ClusterEvent,
  ControlServiceClient,
  ListNodesResponse,
  WatchResponse,
  WatchSnapshot,
} from '@flotilla/api';
import { type ClientReadableStream, Metadata, status } from '@grpc/grpc-js';
import {
  SAMPLE_EVERY_MS,
  SAMPLES_KEPT,
  type StreamSnapshot,
  type UiCluster,
  type UiEvent,
  type UiSample,
} from '../model.js';
import { ClusterState } from './cluster-state.js';
import { unary } from './unary.js';

/** What the feed tells the browsers: one SSE message (`event` names its type). */
export type Broadcast = (event: string, data: unknown) => void;

export interface FeedOptions {
  /** How often changes go out: bursts within it are one message per object. */
  coalesceMs?: number;
  /** Backoff between Watch attempts after a loss: from min, doubling, to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

const EVENTS_KEPT = 200;
const EVENT_TYPES = ['service', 'task', 'node', 'leader'];
// The event panel starts with what happened in the last quarter hour (the chart's span).
const EVENTS_BACK_MS = SAMPLE_EVERY_MS * SAMPLES_KEPT;
// Managers are not in the Watch: `ListNodes` is read again on node changes (at most this often) and now and then.
const MANAGERS_EVERY_MS = 15_000;
const MANAGERS_AFTER_CHANGE_MS = 1_000;

/**
 * One control-API Watch for every browser (not one per tab), turned into the page's model: snapshot, then changes
 * coalesced per object; the event log followed; samples taken. A lost Watch is called again with backoff, and every
 * browser then gets the new snapshot.
 */
export class ClusterFeed {
  private readonly state = new ClusterState();
  private cluster: UiCluster = { id: '', managers: [] };
  private samples: UiSample[] = [];
  private events: UiEvent[] = [];
  private eventsAvailable = false;
  private ready = false;
  private readonly waiting: (() => void)[] = [];
  private closed = false;
  private watchCall: ClientReadableStream<WatchResponse> | undefined;
  private eventsCall: ClientReadableStream<{ events: ClusterEvent[] }> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private flushTimer: NodeJS.Timeout | undefined;
  private managersTimer: NodeJS.Timeout | undefined;
  private readonly coalesceMs: number;

  constructor(
    private readonly client: ControlServiceClient,
    private readonly broadcast: Broadcast,
    private readonly options: FeedOptions = {},
  ) {
    this.coalesceMs = options.coalesceMs ?? 100;
  }

  start(): void {
    this.watch(options(this.options).retryMinMs);
    this.followEvents(0);
    this.every(SAMPLE_EVERY_MS, () => this.sample());
    this.every(MANAGERS_EVERY_MS, () => void this.refreshCluster());
    void this.refreshCluster();
  }

  close(): void {
    this.closed = true;
    this.watchCall?.cancel();
    this.eventsCall?.cancel();
    for (const timer of this.timers) clearTimeout(timer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.managersTimer);
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** Everything, for a new browser connection: waits for the first snapshot (or the feed's close). */
  async snapshot(): Promise<StreamSnapshot> {
    if (!this.ready && !this.closed) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return {
      cluster: this.cluster,
      ...this.state.view(),
      samples: this.samples,
      events: this.events,
      eventsAvailable: this.eventsAvailable,
    };
  }

  /** A task as the Watch last told it (for the detail panel). */
  task(id: string) {
    return this.state.task(id);
  }

  get hasEvents(): boolean {
    return this.eventsAvailable;
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private watch(delay: number): void {
    if (this.closed) return;
    const call = this.client.watch({ kinds: [] }, new Metadata());
    this.watchCall = call;
    let parts: Pick<WatchSnapshot, 'nodes' | 'services' | 'tasks'> = { nodes: [], services: [], tasks: [] };
    let live = false;
    call.on('data', (response: WatchResponse) => {
      if (response.snapshot) {
        parts.nodes.push(...response.snapshot.nodes);
        parts.services.push(...response.snapshot.services);
        parts.tasks.push(...response.snapshot.tasks);
        if (response.snapshot.more) return;
        this.state.reset(parts);
        parts = { nodes: [], services: [], tasks: [] };
        live = true;
        this.resynced();
        return;
      }
      if (response.change) {
        this.state.apply(response.change);
        if (response.change.kind === 'nodes') this.managersSoon();
        this.scheduleFlush();
      }
    });
    const lost = () => {
      call.removeAllListeners();
      if (this.closed) return;
      // A Watch that got as far as its snapshot starts again from the shortest backoff.
      const next = live ? options(this.options).retryMinMs : delay;
      this.later(next, () => this.watch(Math.min(next * 2, options(this.options).retryMaxMs)));
    };
    call.on('error', lost);
    call.on('end', lost);
  }

  /** A new snapshot: every browser replaces its state with it. */
  private resynced(): void {
    void this.refreshCluster();
    if (!this.ready) {
      this.ready = true;
      for (const wake of this.waiting.splice(0)) wake();
      return;
    }
    void this.snapshot().then((s) => this.broadcast('snapshot', s));
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const changes = this.state.flush();
      for (const c of changes.nodes) this.broadcast('node', c);
      for (const c of changes.services) this.broadcast('service', c);
      for (const c of changes.tasks) this.broadcast('task', c);
    }, this.coalesceMs);
  }

  private managersSoon(): void {
    this.managersTimer ??= setTimeout(() => {
      this.managersTimer = undefined;
      void this.refreshCluster();
    }, MANAGERS_AFTER_CHANGE_MS);
  }

  private async refreshCluster(): Promise<void> {
    try {
      const [nodes, cluster] = await Promise.all([
        unary<object, ListNodesResponse>(this.client, this.client.listNodes, {}),
        unary(this.client, this.client.getCluster, {}),
      ]);
      if (this.closed) return;
      const next: UiCluster = {
        id: cluster.id,
        managers: nodes.managers.map((m) => ({
          id: m.manager?.id ?? '',
          address: m.manager?.address ?? '',
          leader: m.leader,
          reachable: m.reachable,
        })),
      };
      this.state.setManagers(nodes.managers);
      if (this.state.pending) this.scheduleFlush();
      if (JSON.stringify(next) === JSON.stringify(this.cluster)) return;
      this.cluster = next;
      if (this.ready) this.broadcast('cluster', next);
    } catch {
      // The Watch says when the managers are away; the panel keeps what it last showed.
    }
  }

  private sample(): void {
    if (!this.ready) return;
    const sample: UiSample = { at: Date.now(), running: this.state.running() };
    this.samples = [...this.samples, sample].slice(-SAMPLES_KEPT);
    this.broadcast('sample', sample);
  }

  /** Follows the event log from a quarter hour back; off (and tried again later) when the managers have no Redis. */
  private followEvents(attempt: number): void {
    if (this.closed) return;
    const since = this.events.at(-1)?.at ?? Date.now() - EVENTS_BACK_MS;
    const call = this.client.events(
      { sinceMs: BigInt(since), untilMs: 0n, types: EVENT_TYPES, services: [], nodes: [] },
      new Metadata(),
    );
    this.eventsCall = call;
    call.on('data', (response: { events: ClusterEvent[] }) => {
      attempt = 0;
      this.setEventsAvailable(true);
      for (const e of response.events) {
        const event = uiEvent(e);
        // A resumed follow starts at the last event's millisecond: what was already kept is not kept twice.
        if (this.events.some((k) => k.at === event.at && k.actor === event.actor && k.action === event.action))
          continue;
        this.events.push(event);
        if (this.events.length > EVENTS_KEPT) this.events.splice(0, this.events.length - EVENTS_KEPT);
        if (this.ready) this.broadcast('event', event);
      }
    });
    // A follow that is still open after a moment was accepted (a refusal comes at once), though no event came yet.
    const accepted = setTimeout(() => this.setEventsAvailable(true), 1_000);
    const ended = (err?: { code?: number }) => {
      clearTimeout(accepted);
      call.removeAllListeners();
      if (this.closed) return;
      if (err?.code === status.FAILED_PRECONDITION) this.setEventsAvailable(false);
      const delay = err?.code === status.FAILED_PRECONDITION ? 30_000 : Math.min(1_000 * 2 ** attempt, 30_000);
      this.later(delay, () => this.followEvents(attempt + 1));
    };
    call.on('error', ended);
    call.on('end', () => ended());
  }

  private setEventsAvailable(available: boolean): void {
    if (this.eventsAvailable === available) return;
    this.eventsAvailable = available;
    // The page learns it from the next snapshot: send one (it is rare: Redis comes or goes).
    if (this.ready) void this.snapshot().then((s) => this.broadcast('snapshot', s));
  }
}

function options(o: FeedOptions): { retryMinMs: number; retryMaxMs: number } {
  return { retryMinMs: o.retryMinMs ?? 250, retryMaxMs: o.retryMaxMs ?? 5_000 };
}

export function uiEvent(e: ClusterEvent): UiEvent {
  const details = Object.entries(e.attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return { at: Number(e.atMs), type: e.type, action: e.action, actor: e.actorName || e.actorId, message: details };
}
