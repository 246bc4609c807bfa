import {
  type Capabilities,
  Code,
  type DispatcherServiceServer,
  FlotillaError,
  type LogsConfig,
  NodeStatus_State,
  newId,
  type Promotion,
  type SessionRequest,
  type SessionResponse,
  type Task,
  toGrpcStatus,
} from '@flotilla/api';
import { type CertificateAuthority, isPkiReason, type NodeIdentity } from '@flotilla/pki';
import { type ChangeSet, LoopInformers, type Store } from '@flotilla/store';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { boundStatus, LIMITS } from '../input-limits.js';
import { peerIdentity } from '../peer-identity.js';
import { assignedTo, assignmentsByNode } from './assignments.js';
import { NetworkViewSender, type ViewInformers } from './network-views.js';
import { Heartbeats } from './node-liveness.js';
import { type NodeRuntime, nodeRuntime } from './node-runtime.js';
import { NodeStatusWriter } from './node-status.js';
import { peerAddress, probeAddress, type Session, Sessions } from './session.js';
import { type BatcherStats, StatusBatcher } from './status-batcher.js';
import { type ManagerVoter, VoterRoll } from './voters.js';

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
   * The live managers (this one included) as voters of the quorum rule: told to agents with the nodes, and counted
   * before silent nodes are marked down. Absent: no managers are told, and silent nodes are always down.
   */
  managerVoters?: () => ManagerVoter[];
  /**
   * Where agents ship container logs, password included: it goes only into sessions, which are mutual TLS with
   * nodes the cluster admitted, and is never logged.
   */
  logs?: LogsConfig;
  /** Where each node ships its logs, with a Redis user of its own (instead of `logs`, which promotions keep). */
  nodeLogs?: (nodeId: string) => LogsConfig;
  now?: () => number;
  /** Counters of status batches, shared across leadership terms. */
  stats?: BatcherStats;
  /**
   * Informers shared with the leader's other loops (one watch and one decode per change, not one per loop). The
   * dispatcher starts them if need be; whoever made them stops them.
   */
  informers?: Partial<ViewInformers>;
  /** Where problems that must not end a session are told (a network view that could not be made). */
  logger?: { warn(obj: object, msg: string): void };
  /** The cluster's certificate life now, told to agents in their sessions (they renew sooner when it shrinks). */
  certExpiryMs?: () => number;
  /** Hooks for metrics. */
  onHeartbeat?: () => void;
  onSessionOpened?: () => void;
}

/**
 * Sessions with agents: one per node, over mutual TLS, the node being whoever its certificate says it is. Tracks
 * heartbeats, marks nodes ready when they hold a session and down when they go silent past the grace (unknown
 * while this leader hears too few voters: see lostNodes), tells each agent its heartbeat period, the managers and
 * the voters, sends it its tasks and network view, and writes the status reports of its tasks.
 */
export class Dispatcher {
  private readonly sessions = new Sessions();
  private readonly heartbeats: Heartbeats;
  private readonly nodeStatus: NodeStatusWriter;
  private timer: NodeJS.Timeout | undefined;
  /** Tasks and nodes from watches: assignments and the liveness check read these caches, not etcd. */
  private readonly informers: ViewInformers;
  /** The informers this dispatcher made itself, and so stops. */
  private readonly owned: LoopInformers;
  private readonly views: NetworkViewSender;
  private readonly voters: VoterRoll;
  readonly statuses: StatusBatcher;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly options: DispatcherOptions,
  ) {
    const now = options.now ?? Date.now;
    this.heartbeats = new Heartbeats({
      periodMs: options.heartbeatPeriodMs,
      gracePeriods: options.gracePeriods,
      now,
      ...(options.takeoverGraceMs === undefined ? {} : { takeoverGraceMs: options.takeoverGraceMs }),
    });
    this.nodeStatus = new NodeStatusWriter(store, now);
    this.owned = new LoopInformers(store);
    const shared = options.informers ?? {};
    this.informers = {
      tasks: this.owned.use('tasks', shared.tasks),
      nodes: this.owned.use('nodes', shared.nodes),
      services: this.owned.use('services', shared.services),
      networks: this.owned.use('networks', shared.networks),
    };
    this.statuses = new StatusBatcher(store, this.informers.tasks, {}, options.stats);
    this.views = new NetworkViewSender(this.informers, this.sessions, options.logger);
    this.voters = new VoterRoll({
      nodes: () => this.informers.nodes.list().map((n) => n.value),
      managers: () => options.managerVoters?.() ?? [],
      send: () => this.announce(),
    });
    this.informers.tasks.subscribe((set) => this.sendChanges(set));
    this.informers.nodes.subscribe((set) => {
      // A removed node's session ends, whichever manager removed it; its certificate opens no new one.
      for (const change of set.changes) if (change.type === 'delete') this.sessions.end(change.id);
      this.voters.changed();
    });
  }

  service(): DispatcherServiceServer {
    return { session: (call) => void this.open(call) };
  }

  /** Starts following task assignments and checking heartbeats (every half period). */
  async start(): Promise<void> {
    const { tasks, nodes, services, networks } = this.informers;
    await tasks.start();
    await nodes.start();
    await services.start();
    await networks.start();
    this.timer ??= setInterval(() => void this.checkLiveness(), Math.max(10, this.options.heartbeatPeriodMs / 2));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.voters.stop();
    this.statuses.stop();
    await this.views.stop();
    await this.owned.stop();
    this.sessions.endAll();
  }

  connectedNodes(): string[] {
    return this.sessions.nodeIds();
  }

  /** Tells every connected agent the current list of managers and the voters (same session, new lists). */
  announceManagers(): void {
    this.voters.changed();
    this.announce();
  }

  /**
   * Where a connected node's agent would serve a manager (said in its session's capabilities); undefined when the
   * node has no session with this dispatcher, "" when its agent cannot run one.
   */
  managerAddress(nodeId: string): string | undefined {
    const session = this.sessions.get(nodeId);
    return session ? (session.managerAddress ?? '') : undefined;
  }

  /** Tells a connected node to start a manager (`node promote`); false when it has no session here. */
  promote(nodeId: string, promotion: Omit<Promotion, 'logs'>): boolean {
    const session = this.sessions.get(nodeId);
    if (!session) return false;
    session.call.write({ promotion: { ...promotion, ...(this.options.logs ? { logs: this.options.logs } : {}) } });
    return true;
  }

  /** Ends a node's session (after it was removed: it cannot open another). */
  disconnect(nodeId: string): void {
    this.sessions.end(nodeId);
  }

  private announce(): void {
    for (const s of this.sessions.all()) s.call.write({ session: this.sessionInfo(s) });
    this.voters.sent();
  }

  private sessionInfo(session: Session): SessionResponse['session'] {
    return {
      sessionId: session.id,
      heartbeatPeriodMs: BigInt(this.options.heartbeatPeriodMs),
      managers: this.options.managers(),
      selfFenceTimeoutMs: BigInt(this.options.selfFenceTimeoutMs ?? 0),
      ...(this.options.nodeLogs
        ? { logs: this.options.nodeLogs(session.nodeId) }
        : this.options.logs
          ? { logs: this.options.logs }
          : {}),
      voters: this.voters.list(),
      certExpiryMs: BigInt(this.options.certExpiryMs?.() ?? 0),
      // A CA rotation: the CA that issues now (a node of another renews at once) and the CAs to trust.
      caIssuerPem: this.ca.issuerPem,
      caTrustPem: this.ca.trustPem,
    };
  }

  private async open(call: ServerDuplexStream<SessionRequest, SessionResponse>): Promise<void> {
    const admitted = await this.admit(call);
    if (!admitted) return;
    const { identity, runtime } = admitted;
    const session: Session = {
      id: newId(),
      nodeId: identity.nodeId,
      call,
      writing: false,
      address: peerAddress(call.getPeer()),
      overlay: false,
      ...(runtime ? { runtime } : {}),
    };
    this.sessions.add(session);
    this.options.onSessionOpened?.();
    this.heartbeats.opened(identity.nodeId);
    call.write({ session: this.sessionInfo(session) });
    const assigned = assignedTo(
      this.informers.tasks.list().map((t) => t.value),
      identity.nodeId,
    );
    call.write({ assignments: { full: true, tasks: assigned, removedTaskIds: [] } });
    await this.markReady(session);

    call.on('data', (message: SessionRequest) => this.receive(session, message));
    const closed = () => this.closed(session);
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
  }

  /**
   * The caller's node, if its certificate is this cluster's and the node was not removed, and how it runs tasks
   * (as its agent describes it); else refused.
   */
  private async admit(
    call: ServerDuplexStream<SessionRequest, SessionResponse>,
  ): Promise<{ identity: NodeIdentity; runtime: NodeRuntime | undefined } | undefined> {
    try {
      const identity = peerIdentity(call, this.ca);
      const runtime = nodeRuntime(call.metadata);
      const node = await this.store.get('nodes', identity.nodeId);
      if (!node) {
        throw new FlotillaError(
          Code.PermissionDenied,
          `node ${identity.nodeId} was removed from the cluster: join it again`,
          { reason: 'untrusted' },
        );
      }
      return { identity, runtime };
    } catch (err) {
      // A refusal of the node's identity is final, and so is a description that cannot be read; anything else
      // (etcd away) is worth a retry.
      const denied = err instanceof FlotillaError && isPkiReason(err.reason);
      const invalid = err instanceof FlotillaError && err.code === Code.InvalidArgument;
      const message = err instanceof Error ? err.message : String(err);
      const code = denied ? Code.PermissionDenied : invalid ? Code.InvalidArgument : Code.Unavailable;
      call.emit('error', toGrpcStatus(new FlotillaError(code, message)));
      return undefined;
    }
  }

  private receive(session: Session, message: SessionRequest): void {
    const { nodeId, call } = session;
    if (message.capabilities) this.capabilities(session, message.capabilities);
    if (message.goodbye && !session.goodbye) session.goodbye = this.heartbeats.goodbye(message.goodbye.backWithinMs);
    if (message.heartbeat) {
      this.heartbeats.beat(nodeId);
      call.write({ heartbeatAck: { sentAtMs: message.heartbeat.sentAtMs } });
      this.options.onHeartbeat?.();
      // A heartbeating node is alive: whatever was last written (not yet ready, or down after a stall of this
      // manager), it is made ready again.
      if (this.nodeStatus.last(nodeId) !== NodeStatus_State.STATE_READY) void this.markReady(session);
    }
    // The reporting node is the certificate's, whatever the message says: a node speaks only for itself.
    for (const update of message.status?.updates ?? []) {
      if (!update.status || update.taskId.length > LIMITS.taskId) continue;
      this.statuses.report({ nodeId, taskId: update.taskId, status: boundStatus(update.status) });
    }
  }

  private capabilities(session: Session, capabilities: Capabilities): void {
    if (capabilities.managerAddress.length <= LIMITS.shortText) session.managerAddress = capabilities.managerAddress;
    if (capabilities.overlay && !session.overlay) {
      session.overlay = true;
      // The agent waits for its tasks' networks to be in a view before it starts them.
      this.views.sendTo(session);
    }
    const probe = probeAddress(session.call.getPeer(), capabilities.probePort);
    if (probe && probe !== session.probeAddress) {
      // Kept with the node's status, so that the voters (and a new leader) know where to probe it.
      session.probeAddress = probe;
      void this.markReady(session);
    }
  }

  private closed(session: Session): void {
    if (!this.sessions.release(session)) return;
    const restarting = this.heartbeats.closed(session.nodeId, session.goodbye);
    const why = restarting ? 'agent restarting' : 'session closed';
    void this.setStatus(session.nodeId, NodeStatus_State.STATE_DISCONNECTED, why);
  }

  /** Sends each connected node the changes to its own tasks from one store transaction. */
  private sendChanges(set: ChangeSet<Task>): void {
    if (set.relisted && set.changes.length === 0) return;
    for (const [nodeId, e] of assignmentsByNode(set)) {
      this.sessions
        .get(nodeId)
        ?.call.write({ assignments: { full: false, tasks: e.tasks, removedTaskIds: e.removed } });
    }
  }

  private async checkLiveness(): Promise<void> {
    const nodes = this.informers.nodes.list().map((n) => ({
      id: n.id,
      state: n.value.status?.state ?? NodeStatus_State.STATE_UNSPECIFIED,
      lastHeartbeatMs: n.value.status?.lastHeartbeatMs ?? 0n,
    }));
    const lost = this.heartbeats.lost(nodes, this.options.managerVoters?.().length);
    for (const nodeId of lost.nodeIds) {
      // A node may have heartbeated while earlier ones were being marked: only one still silent is marked.
      if (this.heartbeats.expired([nodeId]).length === 0) continue;
      this.sessions.end(nodeId);
      await this.setStatus(nodeId, lost.state, lost.message);
    }
  }

  private async markReady(session: Session): Promise<void> {
    if (session.writing || !this.sessions.current(session)) return;
    session.writing = true;
    try {
      // Again if the agent said its probe port while the first write was under way.
      let written: string | undefined;
      do {
        written = session.probeAddress;
        await this.setStatus(session.nodeId, NodeStatus_State.STATE_READY, 'session established', {
          address: session.address,
          probeAddress: written ?? '',
          ...(session.runtime ? { runtime: session.runtime } : {}),
        });
      } while (written !== session.probeAddress && this.sessions.current(session));
    } finally {
      session.writing = false;
    }
  }

  private setStatus(
    nodeId: string,
    state: NodeStatus_State,
    message: string,
    where: { address: string; probeAddress: string; runtime?: NodeRuntime } = { address: '', probeAddress: '' },
  ): Promise<boolean> {
    const lastHeartbeatMs = this.heartbeats.last(nodeId);
    return this.nodeStatus.write(nodeId, { state, message, lastHeartbeatMs, ...where });
  }
}
