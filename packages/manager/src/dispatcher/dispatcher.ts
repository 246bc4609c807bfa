import {
  type Capabilities,
  Code,
  type DispatcherServiceServer,
  FlotillaError,
  NodeStatus_State,
  newId,
  type Promotion,
  type SessionRequest,
  type SessionResponse,
  type Task,
  toGrpcStatus,
} from '@flotilla/api';
import { type CertificateAuthority, isPkiReason, type NodeIdentity } from '@flotilla/pki';
import { type ChangeSet, type Informer, LoopInformers, type Store } from '@flotilla/store';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { boundStatus, LIMITS } from '../input-limits.js';
import { peerIdentity } from '../peer-identity.js';
import { assignedTo, assignmentsByNode } from './assignments.js';
import type { DispatcherOptions, DispatcherStats } from './dispatcher-options.js';
import { FloodGuard } from './flood-guard.js';
import { NetworkViewSender, type ViewInformers } from './network-views.js';
import { Heartbeats } from './node-liveness.js';
import { type NodeRuntime, nodeRuntime } from './node-runtime.js';
import { NodeStatusWriter } from './node-status.js';
import { endCall, peerAddress, probeAddress, type Session, Sessions } from './session.js';
import { type AssignmentSet, type FileSource, SessionFiles } from './session-files.js';
import { SessionWriter } from './session-writer.js';
import { StatusBatcher } from './status-batcher.js';
import { VoterRoll } from './voters.js';

export type { DispatcherOptions, DispatcherStats } from './dispatcher-options.js';

/**
 * Sessions with agents: one per node, over mutual TLS, the node being whoever its certificate says it is. Tracks
 * heartbeats, marks nodes ready when they hold a session and down when they go silent past the grace (unknown
 * while this leader hears too few voters: see lostNodes), tells each agent its heartbeat period, the managers and
 * the voters, sends it its tasks and network view, and writes the status reports of its tasks. What it holds is
 * bounded: a node over its session's budget is cut off (FloodGuard), writes toward an agent that does not read
 * are coalesced and its session closed once behind too long (SessionWriter), and removed nodes are forgotten.
 */
export class Dispatcher {
  private readonly sessions = new Sessions();
  private readonly heartbeats: Heartbeats;
  private readonly nodeStatus: NodeStatusWriter;
  private timer: NodeJS.Timeout | undefined;
  /** Tasks and nodes from watches: assignments and the liveness check read these caches, not etcd. */
  private readonly informers: ViewInformers;
  /** Secrets' and configs' stored versions (sealed): what the tasks sent to a node use goes with them. */
  private readonly files: Informer<'files'>;
  /** The informers this dispatcher made itself, and so stops. */
  private readonly owned: LoopInformers;
  private readonly views: NetworkViewSender;
  private readonly voters: VoterRoll;
  private readonly guard: FloodGuard;
  private readonly now: () => number;
  readonly statuses: StatusBatcher;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly options: DispatcherOptions,
  ) {
    const now = options.now ?? Date.now;
    this.now = now;
    this.guard = new FloodGuard({
      heartbeatPeriodMs: options.heartbeatPeriodMs,
      now,
      ...(options.sessionLimits ? { limits: options.sessionLimits } : {}),
      ...(options.cutOffBackoffMs === undefined ? {} : { firstBackoffMs: options.cutOffBackoffMs }),
    });
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
    this.files = this.owned.use('files', shared.files);
    this.statuses = new StatusBatcher(store, this.informers.tasks, {}, options.stats);
    this.views = new NetworkViewSender(this.informers, this.sessions, options.logger);
    this.voters = new VoterRoll({
      nodes: () => this.informers.nodes.list().map((n) => n.value),
      managers: () => options.managerVoters?.() ?? [],
      send: () => this.announce(),
    });
    this.informers.tasks.subscribe((set) => {
      this.guard.tasksChanged(set);
      this.sendChanges(set);
    });
    this.informers.nodes.subscribe((set) => {
      // A removed node's session ends, whichever manager removed it; its certificate opens no new one. Nothing
      // is kept about it.
      for (const change of set.changes) if (change.type === 'delete') this.forget(change.id);
      this.voters.changed();
    });
    this.files.subscribe((set) => {
      if (set.relisted || set.changes.some((c) => c.type === 'put')) this.sendHeldBack();
    });
  }

  service(): DispatcherServiceServer {
    return { session: (call) => void this.open(call) };
  }

  /** Starts following task assignments and checking heartbeats (every half period). */
  async start(): Promise<void> {
    const { tasks, nodes, services, networks } = this.informers;
    // The files first: a session's first assignment set carries what its tasks use.
    await this.files.start();
    await tasks.start();
    await nodes.start();
    await services.start();
    await networks.start();
    // Tasks the shared informer delivered before this dispatcher subscribed (counted once however often seen).
    this.guard.tasksChanged({
      revision: 0n,
      relisted: true,
      changes: tasks.list().map((t) => ({ type: 'put', ...t })),
    });
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

  /** The sizes of what the dispatcher keeps per node, session and task (tests and metrics). */
  stats(): DispatcherStats {
    let heldMessages = 0;
    for (const s of this.sessions.all()) heldMessages += s.writer.holding;
    return {
      sessions: this.sessions.nodeIds().length,
      heartbeats: this.heartbeats.size,
      nodeStatuses: this.nodeStatus.size,
      ...this.guard.stats(),
      pendingStatuses: this.statuses.pendingCount,
      heldMessages,
    };
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
    session.writer.send('promotion', {
      promotion: { ...promotion, ...(this.options.logs ? { logs: this.options.logs } : {}) },
    });
    return true;
  }

  /** Ends a node's session (after it was removed: it cannot open another). */
  disconnect(nodeId: string): void {
    this.sessions.end(nodeId);
  }

  /** A node removed: its session ends, and what was kept about it goes. */
  private forget(nodeId: string): void {
    this.sessions.end(nodeId);
    this.heartbeats.forget(nodeId);
    this.nodeStatus.forget(nodeId);
    this.guard.forget(nodeId);
  }

  /**
   * Closes a session the dispatcher will not carry on: a node that flooded it (its new sessions are refused for a
   * while, see FloodGuard) or an agent that does not read it. Logged with the node and the reason; the reason is
   * the node's status message, which makes a node.down event of it (disconnected). The node is not marked down
   * for it: its tasks keep running, and it is marked down only if it stays away past the grace.
   */
  private cutOff(session: Session, reason: string, flood: boolean): void {
    if (!this.sessions.current(session)) return;
    const refusedForMs = flood ? this.guard.cut(session.nodeId, reason) : 0;
    this.options.onCutOff?.(flood ? 'flood' : 'behind');
    session.closedBecause = `${flood ? 'cut off' : 'session closed'}: it ${reason}`;
    this.options.logger?.warn(
      { node: session.nodeId, reason, ...(flood ? { refusedForMs } : {}) },
      flood ? 'node cut off for flooding its session' : 'node session closed: the agent does not read it',
    );
    const error = new FlotillaError(
      Code.ResourceExhausted,
      `${session.closedBecause}; reconnect after ${refusedForMs} ms`,
    );
    endCall(session.call, error, session.writer.behind || !flood);
    this.closed(session);
  }

  private announce(): void {
    for (const s of this.sessions.all()) s.writer.send('session', { session: this.sessionInfo(s) });
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
    const nodeId = identity.nodeId;
    const writer = new SessionWriter(call, {
      fullAssignments: () => this.fullAssignments(session),
      maxBehindMs: this.options.maxBehindMs ?? Math.max(60_000, 30 * this.options.heartbeatPeriodMs),
      onBehind: (reason) => this.cutOff(session, reason, false),
      now: this.now,
    });
    const session: Session = {
      id: newId(),
      nodeId,
      call,
      writer,
      budget: this.guard.budget(),
      writing: false,
      address: peerAddress(call.getPeer()),
      overlay: false,
      files: new SessionFiles(),
      ...(runtime ? { runtime } : {}),
    };
    this.sessions.add(session);
    this.options.onSessionOpened?.();
    this.heartbeats.opened(identity.nodeId);
    writer.send('session', { session: this.sessionInfo(session) });
    writer.send('assignments', this.fullAssignments(session));
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
      this.guard.admit(identity.nodeId);
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
      const cutOff = err instanceof FlotillaError && err.code === Code.ResourceExhausted;
      const invalid = err instanceof FlotillaError && err.code === Code.InvalidArgument;
      const message = err instanceof Error ? err.message : String(err);
      const code = denied
        ? Code.PermissionDenied
        : cutOff
          ? Code.ResourceExhausted
          : invalid
            ? Code.InvalidArgument
            : Code.Unavailable;
      call.emit('error', toGrpcStatus(new FlotillaError(code, message)));
      return undefined;
    }
  }

  /**
   * The node's whole assignment set, from the cache: a new session's first, or after its agent fell behind. It
   * carries every content its tasks use (what the session sent before counts for nothing: it may not have gone).
   */
  private fullAssignments(session: Session): SessionResponse[] {
    const { nodeId } = session;
    // From the node's own tasks: made again each time a session behind drains, it must not scan every task.
    const own = this.guard.handedTo(nodeId).flatMap((id) => this.informers.tasks.get(id)?.value ?? []);
    const tasks = assignedTo(own, nodeId);
    return this.withFiles(session, { full: true, tasks, removed: [] });
  }

  /** The messages carrying an assignment set and the contents it needs that the session has not sent. */
  private withFiles(session: Session, set: AssignmentSet): SessionResponse[] {
    const before = new Set(session.files.heldBack());
    const { messages, heldBack } = session.files.deliver(set, this.fileSource);
    for (const held of heldBack) {
      if (before.has(held.taskId)) continue;
      // IDs only: never a content.
      this.options.logger?.warn(
        { node: session.nodeId, task: held.taskId, objects: held.objectIds },
        'task held back until the secrets and configs it uses are known',
      );
    }
    return messages;
  }

  /** A stored version's content, opened with the cluster's data key; undefined when not known or not opened. */
  private readonly fileSource: FileSource = (objectId) => {
    const object = this.files.get(objectId)?.value;
    if (!object || !this.options.dataKey) return undefined;
    try {
      return this.options.dataKey.open(objectId, object.sealed);
    } catch (err) {
      // The error names the object only.
      this.options.logger?.warn({ object: objectId, err: (err as Error).message }, 'stored content not opened');
      return undefined;
    }
  };

  /** Tasks held back for a version now known (or still not: held again) are sent to their nodes. */
  private sendHeldBack(): void {
    for (const session of this.sessions.all()) {
      const waiting = session.files.heldBack();
      if (waiting.length === 0) continue;
      const tasks = assignedTo(
        waiting.flatMap((id) => this.informers.tasks.get(id)?.value ?? []),
        session.nodeId,
      );
      const messages = this.withFiles(session, { full: false, tasks, removed: [] });
      if (messages.length > 0) session.writer.send('assignments', messages);
    }
  }

  private receive(session: Session, message: SessionRequest): void {
    // Messages already on their way when the session was closed or replaced are not read.
    if (!this.sessions.current(session)) return;
    const { nodeId } = session;
    const flood = this.guard.check(session.budget, nodeId, message);
    if (flood) {
      this.cutOff(session, flood, true);
      return;
    }
    if (message.capabilities) this.capabilities(session, message.capabilities);
    if (message.goodbye && !session.goodbye) session.goodbye = this.heartbeats.goodbye(message.goodbye.backWithinMs);
    if (message.heartbeat) {
      this.heartbeats.beat(nodeId);
      session.writer.send('heartbeatAck', { heartbeatAck: { sentAtMs: message.heartbeat.sentAtMs } });
      this.options.onHeartbeat?.();
      // A heartbeating node is alive: whatever was last written (not yet ready, or down after a stall of this
      // manager), it is made ready again.
      if (this.nodeStatus.last(nodeId) !== NodeStatus_State.STATE_READY) void this.markReady(session);
    }
    // The reporting node is the certificate's, whatever the message says: a node speaks only for itself.
    for (const update of message.status?.updates ?? []) {
      // Reports about tasks not assigned to the node are refused here, never held (see StatusBatcher.report).
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
    const why = session.closedBecause ?? (restarting ? 'agent restarting' : 'session closed');
    void this.setStatus(session.nodeId, NodeStatus_State.STATE_DISCONNECTED, why);
  }

  /** Sends each connected node the changes to its own tasks from one store transaction. */
  private sendChanges(set: ChangeSet<Task>): void {
    if (set.relisted && set.changes.length === 0) return;
    for (const [nodeId, e] of assignmentsByNode(set)) {
      const session = this.sessions.get(nodeId);
      if (!session) continue;
      const messages = this.withFiles(session, { full: false, tasks: e.tasks, removed: e.removed });
      if (messages.length > 0) session.writer.send('assignments', messages);
    }
  }

  private async checkLiveness(): Promise<void> {
    const nodes = this.informers.nodes.list().map((n) => ({
      id: n.id,
      state: n.value.status?.state ?? NodeStatus_State.STATE_UNSPECIFIED,
      lastHeartbeatMs: n.value.status?.lastHeartbeatMs ?? 0n,
    }));
    this.guard.prune();
    const stored = new Set(nodes.map((n) => n.id));
    this.nodeStatus.retain(stored);
    this.heartbeats.retain(stored);
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
