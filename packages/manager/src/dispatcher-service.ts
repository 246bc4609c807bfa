import {
  Code,
  type DispatcherServiceServer,
  FlotillaError,
  type LogsConfig,
  NetworkView,
  NodeStatus_State,
  newId,
  type SessionRequest,
  type SessionResponse,
  type Task,
  TaskState,
} from '@flotilla/api';
import { NetworkViews } from '@flotilla/network';
import { type CertificateAuthority, isPkiReason, type NodeIdentity } from '@flotilla/pki';
import { type ChangeSet, Debounce, Informer, type Store } from '@flotilla/store';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { boundStatus, LIMITS } from './input-limits.js';
import { expiredNodes } from './node-liveness.js';
import { peerIdentity } from './peer-identity.js';
import { type BatcherStats, StatusBatcher } from './status-batcher.js';

/** The longest an agent that said it is restarting keeps its node from being marked down. */
const MAX_RESTART_WAIT_MS = 60_000;
/** How soon after its goodbye an agent's session must end for the goodbye to count. */
const GOODBYE_CLOSE_MS = 5_000;

export interface DispatcherOptions {
  heartbeatPeriodMs: number;
  /** Heartbeat periods a node may miss before it is marked down. */
  gracePeriods: number;
  /** Told to agents: how long without hearing from a manager before they stop their tasks (0: never). */
  selfFenceTimeoutMs?: number;
  /**
   * After this dispatcher starts (a new leader), how long nodes it has not heard from yet have to find it before
   * they are marked down: at least the grace, plus the agents' longest reconnect backoff.
   */
  takeoverGraceMs?: number;
  /** Addresses of every manager, told to agents so they can reconnect to any. */
  managers: () => string[];
  /**
   * Where agents ship container logs, password included: it goes only into sessions, which are mutual TLS with
   * nodes the cluster admitted, and is never logged.
   */
  logs?: LogsConfig;
  now?: () => number;
  /** Counters of status batches, shared across leadership terms. */
  stats?: BatcherStats;
  /**
   * Informers shared with the leader's other loops (one watch and one decode per change, not one per loop). The
   * dispatcher starts them if need be; whoever made them stops them.
   */
  informers?: {
    tasks?: Informer<'tasks'>;
    nodes?: Informer<'nodes'>;
    services?: Informer<'services'>;
    networks?: Informer<'networks'>;
  };
  /** Where problems that must not end a session are told (a network view that could not be made). */
  logger?: { warn(obj: object, msg: string): void };
  /** Hooks for metrics. */
  onHeartbeat?: () => void;
  onSessionOpened?: () => void;
}

const LIVE_STATES = new Set([NodeStatus_State.STATE_READY, NodeStatus_State.STATE_DISCONNECTED]);

interface Session {
  id: string;
  nodeId: string;
  call: ServerDuplexStream<SessionRequest, SessionResponse>;
  writing: boolean;
  /** The agent said it is restarting (at, and how long to wait for it); only the first goodbye counts. */
  goodbye?: { at: number; waitMs: number };
  /** The node's address as this manager sees the connection: its underlay address for the overlay. */
  address: string;
  /** The network view last sent (encoded), so an unchanged one is not sent again. */
  lastView?: Buffer;
  /** The agent wires overlay networks (said at the start of the session): only then is it sent views. */
  overlay: boolean;
}

/**
 * Sessions with agents: one per node, over mutual TLS, the node being whoever its certificate says it is. Tracks
 * heartbeats, marks nodes ready when they hold a session and down when they go silent past the grace, and
 * tells each agent its heartbeat period and the managers.
 */
export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  private readonly lastBeat = new Map<string, number>();
  /** Nodes whose agent said goodbye to restart: not marked down before this time. */
  private readonly restarting = new Map<string, number>();
  /** The status this manager last wrote (or found) for each node. */
  private readonly written = new Map<string, NodeStatus_State>();
  private readonly startedAt: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private readonly tasks: Informer<'tasks'>;
  /** Nodes, from a watch: the liveness check reads this cache instead of listing etcd every half period. */
  private readonly nodes: Informer<'nodes'>;
  private readonly services: Informer<'services'>;
  private readonly networks: Informer<'networks'>;
  /** Network views are worked out again after each burst of changes, for every session at once. */
  private readonly views: Debounce;
  readonly statuses: StatusBatcher;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly options: DispatcherOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.tasks = options.informers?.tasks ?? new Informer(store, 'tasks');
    this.nodes = options.informers?.nodes ?? new Informer(store, 'nodes');
    this.services = options.informers?.services ?? new Informer(store, 'services');
    this.networks = options.informers?.networks ?? new Informer(store, 'networks');
    this.statuses = new StatusBatcher(store, this.tasks, {}, options.stats);
    this.views = new Debounce(async () => this.sendViews(), { quietMs: 20, maxDelayMs: 200 });
    this.tasks.subscribe((set) => {
      this.sendChanges(set);
      // Most task changes (progress, messages) change no node's view: only those that do wake the views.
      if (set.relisted || set.changes.some((c) => c.type === 'delete' || viewKey(c.previous) !== viewKey(c.value))) {
        this.views.poke();
      }
    });
    for (const informer of [this.nodes, this.services, this.networks]) {
      (informer as Informer<'nodes'>).subscribe(() => this.views.poke());
    }
    // A removed node's session ends, whichever manager removed it; its certificate opens no new one.
    this.nodes.subscribe((set) => {
      for (const change of set.changes) if (change.type === 'delete') this.disconnect(change.id);
    });
  }

  service(): DispatcherServiceServer {
    return { session: (call) => void this.open(call) };
  }

  /** Starts following task assignments and checking heartbeats (every half period). */
  async start(): Promise<void> {
    await this.tasks.start();
    await this.nodes.start();
    await this.services.start();
    await this.networks.start();
    this.timer ??= setInterval(() => void this.checkLiveness(), Math.max(10, this.options.heartbeatPeriodMs / 2));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.statuses.stop();
    await this.views.stop();
    if (!this.options.informers?.tasks) await this.tasks.stop();
    if (!this.options.informers?.nodes) await this.nodes.stop();
    if (!this.options.informers?.services) await this.services.stop();
    if (!this.options.informers?.networks) await this.networks.stop();
    for (const s of this.sessions.values()) s.call.end();
    this.sessions.clear();
  }

  connectedNodes(): string[] {
    return [...this.sessions.keys()];
  }

  /** Tells every connected agent the current list of managers (same session, new list). */
  announceManagers(): void {
    for (const s of this.sessions.values()) s.call.write({ session: this.sessionInfo(s) });
  }

  private sessionInfo(session: Session): SessionResponse['session'] {
    return {
      sessionId: session.id,
      heartbeatPeriodMs: BigInt(this.options.heartbeatPeriodMs),
      managers: this.options.managers(),
      selfFenceTimeoutMs: BigInt(this.options.selfFenceTimeoutMs ?? 0),
      ...(this.options.logs ? { logs: this.options.logs } : {}),
    };
  }

  /** Ends a node's session (after it was removed: it cannot open another). */
  disconnect(nodeId: string): void {
    const session = this.sessions.get(nodeId);
    this.sessions.delete(nodeId);
    session?.call.end();
  }

  private async open(call: ServerDuplexStream<SessionRequest, SessionResponse>): Promise<void> {
    let identity: NodeIdentity;
    try {
      identity = peerIdentity(call, this.ca);
      const node = await this.store.get('nodes', identity.nodeId);
      if (!node)
        throw new FlotillaError(
          Code.PermissionDenied,
          `node ${identity.nodeId} was removed from the cluster: join it again`,
          { reason: 'untrusted' },
        );
    } catch (err) {
      const denied = err instanceof FlotillaError && isPkiReason(err.reason);
      call.emit('error', {
        code: denied ? status.PERMISSION_DENIED : status.UNAVAILABLE,
        details: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    const session: Session = {
      id: newId(),
      nodeId: identity.nodeId,
      call,
      writing: false,
      address: peerAddress(call.getPeer()),
      overlay: false,
    };
    // A node has one session: a newer one (after a reconnect) replaces the old.
    this.sessions.get(identity.nodeId)?.call.end();
    this.sessions.set(identity.nodeId, session);
    this.options.onSessionOpened?.();
    this.lastBeat.set(identity.nodeId, this.now());
    call.write({ session: this.sessionInfo(session) });
    const assigned = this.tasks
      .list()
      .map((t) => t.value)
      .filter((t) => t.nodeId === identity.nodeId && handedOver(t));
    call.write({ assignments: { full: true, tasks: assigned, removedTaskIds: [] } });
    await this.markReady(session);

    call.on('data', (message: SessionRequest) => {
      if (message.capabilities?.overlay && !session.overlay) {
        session.overlay = true;
        // The agent waits for its tasks' networks to be in a view before it starts them.
        this.sendView(session, this.currentViews());
      }
      if (message.goodbye && !session.goodbye) {
        const waitMs = Math.min(Math.max(Number(message.goodbye.backWithinMs), 0), MAX_RESTART_WAIT_MS);
        session.goodbye = { at: this.now(), waitMs };
      }
      if (message.heartbeat) {
        this.lastBeat.set(identity.nodeId, this.now());
        this.restarting.delete(identity.nodeId);
        call.write({ heartbeatAck: { sentAtMs: message.heartbeat.sentAtMs } });
        this.options.onHeartbeat?.();
        // A heartbeating node is alive: whatever was last written (not yet ready, or down after a stall of this
        // manager), it is made ready again.
        if (this.written.get(identity.nodeId) !== NodeStatus_State.STATE_READY) void this.markReady(session);
      }
      // The reporting node is the certificate's, whatever the message says: a node speaks only for itself.
      for (const update of message.status?.updates ?? []) {
        if (!update.status || update.taskId.length > LIMITS.taskId) continue;
        this.statuses.report({ nodeId: identity.nodeId, taskId: update.taskId, status: boundStatus(update.status) });
      }
    });
    const closed = () => {
      if (this.sessions.get(identity.nodeId) !== session) return;
      this.sessions.delete(identity.nodeId);
      // A goodbye holds the node only when the session ends right after it, as a stopping agent's does: an
      // agent that says goodbye and carries on (wedged, or misbehaving) gains nothing by it.
      const bye = session.goodbye;
      if (bye && this.now() - bye.at <= GOODBYE_CLOSE_MS) this.restarting.set(identity.nodeId, this.now() + bye.waitMs);
      const why = this.restarting.has(identity.nodeId) ? 'agent restarting' : 'session closed';
      void this.setStatus(identity.nodeId, NodeStatus_State.STATE_DISCONNECTED, why);
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
  }

  /** Sends each connected node the changes to its own tasks from one store transaction. */
  private sendChanges(set: ChangeSet<Task>): void {
    if (set.relisted && set.changes.length === 0) return;
    const perNode = new Map<string, { tasks: Task[]; removed: string[] }>();
    const entry = (nodeId: string) => {
      const existing = perNode.get(nodeId);
      if (existing) return existing;
      const created = { tasks: [] as Task[], removed: [] as string[] };
      perNode.set(nodeId, created);
      return created;
    };
    for (const change of set.changes) {
      const before = change.previous?.nodeId;
      if (change.type === 'delete') {
        if (before) entry(before).removed.push(change.id);
        continue;
      }
      if (before && before !== change.value.nodeId) entry(before).removed.push(change.id);
      if (!handedOver(change.value)) continue;
      // A status report coming back from the node itself is not news to it; a task just handed over is.
      const news = !change.previous || !handedOver(change.previous) || assignmentChanged(change.previous, change.value);
      if (news) entry(change.value.nodeId).tasks.push(change.value);
    }
    for (const [nodeId, e] of perNode) {
      this.sessions
        .get(nodeId)
        ?.call.write({ assignments: { full: false, tasks: e.tasks, removedTaskIds: e.removed } });
    }
  }

  /** Every node's network view, from the caches; a failure is logged and the sessions carry on. */
  private currentViews(): NetworkViews | undefined {
    try {
      return new NetworkViews({
        networks: this.networks.list().map((n) => n.value),
        services: this.services.list().map((s) => s.value),
        tasks: this.tasks.list().map((t) => t.value),
        nodes: this.nodes.list().map((n) => n.value),
      });
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message }, 'network views could not be made');
      return undefined;
    }
  }

  /** Sends every connected node its network view where it changed. */
  private sendViews(): void {
    const overlay = [...this.sessions.values()].filter((s) => s.overlay);
    if (overlay.length === 0) return;
    const views = this.currentViews();
    for (const session of overlay) this.sendView(session, views);
  }

  private sendView(session: Session, views: NetworkViews | undefined): void {
    if (!views) return;
    let view: NetworkView;
    try {
      view = views.viewFor(session.nodeId);
    } catch (err) {
      this.options.logger?.warn({ node: session.nodeId, err: (err as Error).message }, 'no network view for the node');
      return;
    }
    // Until the store has the node's address, the session's is the one to use.
    view.nodeAddress ||= session.address;
    const encoded = Buffer.from(NetworkView.encode(view).finish());
    if (session.lastView?.equals(encoded)) return;
    session.lastView = encoded;
    session.call.write({ network: view });
  }

  private expired(nodeIds: Iterable<string>): string[] {
    return expiredNodes(this.lastBeat, nodeIds, this.now(), {
      periodMs: this.options.heartbeatPeriodMs,
      gracePeriods: this.options.gracePeriods,
      startedAt: this.startedAt,
      holdUntil: this.restarting,
      ...(this.options.takeoverGraceMs === undefined ? {} : { takeoverGraceMs: this.options.takeoverGraceMs }),
    });
  }

  private async checkLiveness(): Promise<void> {
    // Nodes that were up (ready, or their session just closed): a node that joined but never opened a session
    // stays unknown, and a down one stays down until it comes back.
    const watched = this.nodes
      .list()
      .filter((n) => LIVE_STATES.has(n.value.status?.state ?? NodeStatus_State.STATE_UNSPECIFIED))
      .map((n) => n.id);
    const expired = this.expired(watched);
    for (const nodeId of expired) {
      // A node may have heartbeated while earlier ones were being marked: only one still silent is marked down.
      if (this.expired([nodeId]).length === 0) continue;
      this.sessions.get(nodeId)?.call.end();
      this.sessions.delete(nodeId);
      await this.setStatus(nodeId, NodeStatus_State.STATE_DOWN, 'heartbeat failure');
    }
  }

  private async markReady(session: Session): Promise<void> {
    if (session.writing || this.sessions.get(session.nodeId) !== session) return;
    session.writing = true;
    try {
      await this.setStatus(session.nodeId, NodeStatus_State.STATE_READY, 'session established', session.address);
    } finally {
      session.writing = false;
    }
  }

  /** Writes a node's status with compare-and-swap, retrying on a concurrent change. True once it holds. */
  private async setStatus(
    nodeId: string,
    state: NodeStatus_State,
    message: string,
    address?: string,
  ): Promise<boolean> {
    try {
      const written = await this.store.modify('nodes', nodeId, (node) =>
        node.status?.state === state && (!address || node.status.address === address)
          ? undefined
          : {
              ...node,
              status: {
                state,
                message,
                address: address || (node.status?.address ?? ''),
                lastHeartbeatMs: BigInt(this.lastBeat.get(nodeId) ?? 0),
              },
              updatedAtMs: BigInt(this.now()),
            },
      );
      if (!written) return false;
      this.written.set(nodeId, state);
      return true;
    } catch {
      return false;
    }
  }
}

/** What of a task a network view depends on: where it runs, its addresses, and whether it is ready or ended. */
function viewKey(t: Task | undefined): string {
  if (!t || t.networks.length === 0) return '';
  const state = t.status?.state ?? 0;
  const phase =
    state >= TaskState.TASK_STATE_COMPLETE ? 'ended' : state === TaskState.TASK_STATE_RUNNING ? 'running' : 'other';
  return `${t.nodeId}|${t.desiredState}|${phase}|${t.status?.health ?? ''}|${t.networks.map((n) => n.address).join(',')}`;
}

/** The IPv4 address of a gRPC peer ("198.18.0.11:43210", "[::ffff:198.18.0.11]:43210"), or "". */
export function peerAddress(peer: string): string {
  const host = peer
    .replace(/^ipv[46]:/, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:/i, '');
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : '';
}

/**
 * Whether a task is its node's to act on: assigned by the scheduler (a global task names its node from the start,
 * but waits for its addresses and for the scheduler's checks like any other).
 */
function handedOver(t: Task): boolean {
  return !!t.nodeId && (t.status?.state ?? 0) >= TaskState.TASK_STATE_ASSIGNED;
}

/** Whether a task changed in what its node must act on: anything but the observed status and timestamps. */
function assignmentChanged(before: Task | undefined, after: Task): boolean {
  if (!before || before.nodeId !== after.nodeId) return true;
  // Compared as values, field by field, without copies or encoding: this runs on every status report of every
  // task.
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  for (const key in a) if (!OBSERVED.has(key) && !same(a[key], b[key])) return true;
  for (const key in b) if (!OBSERVED.has(key) && !(key in a) && b[key] !== undefined) return true;
  return false;
}

/** Task fields a node reports or that change with its reports: not news to the node. */
const OBSERVED = new Set(['status', 'updatedAtMs']);

/** Deep equality of decoded protobuf values: scalars, bigints, bytes, arrays and plain objects. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // Keys holding undefined count as absent; no key lists are built (this runs per field of every report).
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (!same(x[k], y[k])) return false;
  for (const k in y) if (!(k in x) && y[k] !== undefined) return false;
  return true;
}
