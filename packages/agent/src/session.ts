import {
  type Assignments,
  Code,
  DispatcherServiceClient,
  FlotillaError,
  type NetworkView,
  NodeCaServiceClient,
  NodeDescription,
  type Promotion,
  type SessionInfo,
  type SessionRequest,
  type SessionResponse,
  type TaskStatus,
  TaskStatusUpdate,
} from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import {
  type ClientDuplexStream,
  connectivityState,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { NodeCredentials } from './join.js';
import { leaderAttempt, nextAttempt } from './session-attempts.js';

export interface SessionOptions {
  /** Called with the full assignment set on each new session, then with each change. */
  onAssignments?: (assignments: Assignments) => void;
  /**
   * Called with each network view the managers send (the whole view, whenever it changes). With it, the agent
   * tells each session it takes part in overlay networks; without it, no views are sent.
   */
  onNetwork?: (view: NetworkView) => void;
  /** Reconnect backoff: from the first delay, doubling to the cap, each wait varied by up to a fifth. */
  backoffMs?: { first: number; max: number };
  /** Called when the managers tell a new list of managers (to keep it for restarts). */
  onManagers?: (managers: string[]) => void;
  /**
   * Called once when no manager has been heard from for the self-fence timeout the managers set, for a caller
   * that stops every task then. Contact again (any manager answering) ends the episode. The agent itself decides
   * by the quorum rule instead (fencing.ts), from `silentForMs()` and the voters each session names.
   */
  onFence?: () => void;
  /** The port this node's PeerService listens on, told to the managers at the start of each session (0: none). */
  probePort?: number;
  /**
   * HOST:PORT this agent's process would serve a manager on, told to the managers at the start of each session:
   * the node can then be promoted (`node promote`), and `onPromotion` is called when it is.
   */
  managerAddress?: string;
  /** Called when the leader promotes this node: what its manager joins with (a one-time credential). */
  onPromotion?: (promotion: Promotion) => void;
  /**
   * What the node says of itself at the start of each session (its executor and runtime), written with its ready
   * status, so that no task is placed on it before the managers know how it runs them.
   */
  description?: Partial<NodeDescription>;
  /** Called with what each session (or a manager's later update of it) says: managers, logs, timeouts. */
  onSessionInfo?: (info: SessionInfo) => void;
  /**
   * How long an attempt to open a session waits alone while it has no connection before the next manager is
   * tried beside it (1 s): a manager whose host is gone would hold it for gRPC's 20 s connect timeout.
   */
  attemptGraceMs?: number;
  /**
   * Called when a manager closes the session or refuses a new one for too much traffic (it sent over its budget,
   * or did not read): the manager's words, which say what was exceeded and when to come back.
   */
  onCutOff?: (reason: string) => void;
  now?: () => number;
}

/** By default, how long an attempt without a connection is waited for alone (see `attemptGraceMs`). */
export const ATTEMPT_GRACE_MS = 1_000;

/** An attempt to open a session with one manager, not answered yet. */
interface Attempt {
  address: string;
  client: DispatcherServiceClient;
  stream: ClientDuplexStream<SessionRequest, SessionResponse>;
  startedAt: number;
}

/** The agents' longest wait between reconnects by default; a new leader's takeover grace allows for it. */
export const MAX_RECONNECT_BACKOFF_MS = 2_000;

/**
 * Status batches the session holds while the manager has not read them, at most (a worker sends one per 50 ms, so
 * this is seconds of reports): past it, reports stay with the caller, coalesced per task.
 */
export const MAX_UNREAD_BATCHES = 256;

/** Trailing metadata a manager that does not lead sends with its refusal: where the leader is. */
export const LEADER_METADATA_KEY = 'flotilla-leader';

/** Metadata of a session call: the node's description (a NodeDescription, encoded), see `description`. */
export const DESCRIPTION_METADATA_KEY = 'flotilla-node-description-bin';

/**
 * A session whose heartbeats have gone unacknowledged for this many periods holds back the assignments it gets
 * until the next acknowledgement: the leader marks a node down after its grace (three periods by default) and
 * replaces its tasks, so a task this node started from a late message could run twice. Under the grace, so the
 * node stops taking work first; the watchdog drops the session at three periods, and what it held with it.
 */
export const UNACKED_PERIODS = 2;

type SessionState = 'connecting' | 'connected' | 'stopped';

/**
 * The agent's side of the session: mutual TLS with its node certificate, heartbeats at the period the manager
 * sets, and reconnection with backoff to any known manager when the stream breaks: to the leader a follower names
 * at once, and to other managers beside an attempt that gets no connection (a manager whose host is gone). Tasks
 * keep running while it reconnects; this class only carries the conversation.
 */
export class AgentSession {
  private stream: ClientDuplexStream<SessionRequest, SessionResponse> | undefined;
  private client: DispatcherServiceClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private delay: number;
  private next = 0;
  private managers: string[];
  /** Attempts to open a session under way, none answered yet (more than one while managers do not answer). */
  private attempts: Attempt[] = [];
  /** A manager to try next, ahead of the rotation (the leader a follower pointed to). */
  private preferred: string | undefined;
  private sessionId = '';
  /** The manager the current (or last) session went to. */
  private address: string | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lastContact = 0;
  /** Assignments that came while this node's heartbeats went unacknowledged: applied at the next acknowledgement. */
  private unacked: Assignments[] = [];
  /** When the session in place now was opened (0: none). */
  private connectedAt = 0;
  private selfFenceMs = 0;
  private periodMs = 1_000;
  private suspended = false;
  /** True from the self-fence timeout until a manager is heard again. */
  fenced = false;
  /** Episodes of silence past the self-fence timeout so far. */
  fences = 0;
  state: SessionState = 'connecting';
  /** The managers this agent knows, in the order it tries them. */
  knownManagers(): string[] {
    return [...this.managers];
  }

  /** Sessions established so far (reconnects included). */
  sessions = 0;
  heartbeatsSent = 0;

  constructor(
    private creds: NodeCredentials,
    private readonly options: SessionOptions = {},
  ) {
    this.managers = [...creds.managers];
    this.delay = options.backoffMs?.first ?? 100;
  }

  start(): void {
    this.state = 'connecting';
    this.lastContact = this.now();
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => this.check(), 100);
    this.connect();
  }

  stop(): void {
    this.state = 'stopped';
    clearInterval(this.watchdog);
    this.teardown();
  }

  /**
   * Drops the connection and stays away from the managers until resume(), while everything else (heartbeat
   * bookkeeping, self-fencing) carries on: what a network partition does to a node. Tests use it.
   */
  suspend(): void {
    this.suspended = true;
    this.teardown();
    this.state = 'connecting';
  }

  resume(): void {
    this.suspended = false;
    this.connect();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** How long since a manager last answered. */
  silentForMs(): number {
    return this.now() - this.lastContact;
  }

  /** The self-fence timeout the managers set (0: none, or no session yet). */
  get selfFenceTimeoutMs(): number {
    return this.selfFenceMs;
  }

  get heartbeatPeriodMs(): number {
    return this.periodMs;
  }

  /**
   * What this node answers a peer's probe: it is in a session and a manager answered within three heartbeat
   * periods (as long as a leader counts it as heard).
   */
  hearsLeader(): boolean {
    return this.state === 'connected' && this.silentForMs() <= 3 * this.periodMs;
  }

  /** How long this node has heard the leader it hears now without a break: its session's age (0: none). */
  leaderHeardForMs(): number {
    return this.hearsLeader() ? this.now() - this.connectedAt : 0;
  }

  /**
   * A peer hears a leader while this node is still backing off between attempts: try now, and again from the
   * shortest backoff. A restarted manager is then found within a probe round, not after the longest backoff.
   */
  reconnectNow(): void {
    if (this.state !== 'connecting' || this.suspended || this.stream !== undefined || this.attempts.length > 0) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.delay = this.options.backoffMs?.first ?? 100;
    this.connect();
  }

  /** A manager answered: the node is in touch with the control plane. */
  private contact(): void {
    this.lastContact = this.now();
    this.fenced = false;
  }

  /**
   * Self-fencing, and noticing a dead stream: no acknowledgement for three heartbeat periods means the
   * connection is gone even if TCP has not said so (a partition drops packets silently).
   */
  private check(): void {
    if (this.state === 'stopped') return;
    const silentFor = this.now() - this.lastContact;
    if (this.selfFenceMs > 0 && !this.fenced && silentFor > this.selfFenceMs) {
      this.fenced = true;
      this.fences++;
      this.options.onFence?.();
    }
    if (this.state === 'connected' && silentFor > 3 * this.periodMs) this.stream?.emit('error', new Error('no ack'));
    this.widen();
  }

  /**
   * Stops, telling the managers first that this agent will be back within `backWithinMs` (a restart or upgrade
   * whose tasks keep running), so they do not mark the node down and replace its tasks meanwhile.
   */
  async leave(backWithinMs: number): Promise<void> {
    const stream = this.stream;
    if (this.state === 'connected' && stream) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        // Half-closed after the goodbye: the manager reads it, ends the call, and the status arrives here.
        stream.once('status', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.write({ goodbye: { backWithinMs: BigInt(backWithinMs) } });
        stream.end();
      });
    }
    this.stop();
  }

  /** A renewed certificate and key: the next connection presents them (the session open now carries on). */
  useCertificate(certPem: string, keyPem: string, caCertPem = this.creds.caCertPem): void {
    this.creds = { ...this.creds, certPem, keyPem, caCertPem };
  }

  /**
   * Asks the manager this session is connected to for a certificate for the key behind `csrPem`. On a connection of
   * its own, made with the certificate the node holds now: the session's connection still carries the certificate
   * it was opened with, which may have expired since (the session goes on; a renewal must not rest on it).
   */
  renewCertificate(csrPem: string, timeoutMs = 10_000): Promise<string> {
    const address = this.state === 'connected' ? this.address : undefined;
    if (!address) {
      return Promise.reject(
        new FlotillaError(Code.Unavailable, 'no session with a manager to renew the certificate with'),
      );
    }
    const tls = credentials.createSsl(
      Buffer.from(this.creds.caCertPem),
      Buffer.from(this.creds.keyPem),
      Buffer.from(this.creds.certPem),
    );
    const client = new NodeCaServiceClient(address, tls, { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME });
    return new Promise<string>((resolve, reject) =>
      client.renew({ csrPem }, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) =>
        err ? reject(FlotillaError.from(err)) : resolve(response.certPem),
      ),
    ).finally(() => client.close());
  }

  /**
   * Sends task status updates; returns false when there is no session to carry them, or when the manager has left
   * MAX_UNREAD_BATCHES unread (the caller keeps them, one per task, and tries again): the queue here is bounded.
   */
  reportStatus(updates: { taskId: string; status: Partial<TaskStatus> }[]): boolean {
    if (this.state !== 'connected' || !this.stream) return false;
    if (this.stream.writableLength >= MAX_UNREAD_BATCHES) return false;
    this.stream.write({ status: { updates: updates.map((u) => TaskStatusUpdate.fromPartial(u)) } });
    return true;
  }

  /** Opens a session attempt to the leader a manager named, or else to the next manager of the rotation. */
  private connect(): void {
    if (this.state === 'stopped' || this.suspended) return;
    const address = this.preferred ?? (this.managers[this.next++ % this.managers.length] as string);
    this.preferred = undefined;
    this.attempt(address);
  }

  /** One attempt to open a session with the manager at `address`, beside any others under way. */
  private attempt(address: string): void {
    const tls = credentials.createSsl(
      Buffer.from(this.creds.caCertPem),
      Buffer.from(this.creds.keyPem),
      Buffer.from(this.creds.certPem),
    );
    const client = new DispatcherServiceClient(address, tls, { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME });
    const stream = client.session(this.describe());
    const attempt: Attempt = { address, client, stream, startedAt: this.now() };
    this.attempts.push(attempt);
    stream.write({
      capabilities: {
        overlay: this.options.onNetwork !== undefined,
        probePort: this.options.probePort ?? 0,
        managerAddress: this.options.onPromotion ? (this.options.managerAddress ?? '') : '',
      },
    });
    stream.on('data', (message: SessionResponse) => this.answered(attempt, message));
    stream.on('error', (err: ServiceError) => this.ended(attempt, err));
    stream.on('end', () => this.ended(attempt));
  }

  /** The session call's metadata: the node's description, when the agent gives one. */
  private describe(): Metadata {
    const metadata = new Metadata();
    const description = this.options.description;
    if (description) {
      const encoded = NodeDescription.encode(NodeDescription.fromPartial(description)).finish();
      metadata.set(DESCRIPTION_METADATA_KEY, Buffer.from(encoded));
    }
    return metadata;
  }

  /** A message on the session, or the first answer of an attempt: the first to open a session is the one kept. */
  private answered(attempt: Attempt, message: SessionResponse): void {
    if (attempt.stream !== this.stream) {
      if (!this.attempts.includes(attempt) || !message.session) return;
      this.attempts = this.attempts.filter((a) => a !== attempt);
      this.dropAttempts();
      this.stream = attempt.stream;
      this.client = attempt.client;
      this.address = attempt.address;
    }
    this.receive(message);
  }

  /** The session or an attempt ended: a refusal that names the leader is followed at once, else backoff. */
  private ended(attempt: Attempt, err?: ServiceError): void {
    if (attempt.stream === this.stream) {
      this.teardown();
    } else if (this.attempts.includes(attempt)) {
      this.attempts = this.attempts.filter((a) => a !== attempt);
      attempt.client.close();
    } else {
      return;
    }
    if (this.state === 'stopped') return;
    if (err?.code === status.RESOURCE_EXHAUSTED) this.options.onCutOff?.(err.details);
    this.state = 'connecting';
    const answered = err?.metadata?.get(LEADER_METADATA_KEY) ?? [];
    // A follower's refusal is contact with the control plane (during a failover, nobody is marked down).
    if (answered.length > 0) this.contact();
    const named = answered[0];
    const leader = leaderAttempt(typeof named === 'string' ? named : undefined, attempt.address, this.attempts);
    if (this.attempts.length > 0) {
      // Others are still under way (a manager whose host is gone among them): the leader named is tried beside them.
      if (leader && !this.suspended) this.attempt(leader);
      return;
    }
    clearTimeout(this.retry);
    const first = this.options.backoffMs?.first ?? 100;
    if (leader) {
      // A follower named the leader: go there next, without backing off further.
      this.preferred = leader;
      this.retry = setTimeout(() => this.connect(), first);
      return;
    }
    this.retry = setTimeout(() => this.connect(), this.delay * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(this.options.backoffMs?.max ?? MAX_RECONNECT_BACKOFF_MS, this.delay * 2);
  }

  /** While attempts wait without a connection (a manager whose host is gone), another manager is tried beside. */
  private widen(): void {
    if (this.state !== 'connecting' || this.suspended || this.attempts.length === 0) return;
    const now = this.now();
    const chosen = nextAttempt({
      attempts: this.attempts.map((a) => ({
        address: a.address,
        ageMs: now - a.startedAt,
        transportUp: a.client.getChannel().getConnectivityState(false) === connectivityState.READY,
      })),
      managers: this.managers,
      next: this.next,
      graceMs: this.options.attemptGraceMs ?? ATTEMPT_GRACE_MS,
    });
    if (!chosen) return;
    this.next = chosen.next;
    this.attempt(chosen.address);
  }

  /** Cancels every attempt still under way (one opened the session, or the session stops). */
  private dropAttempts(): void {
    const attempts = this.attempts;
    this.attempts = [];
    for (const a of attempts) {
      a.stream.cancel();
      a.client.close();
    }
  }

  private receive(message: SessionResponse): void {
    // Only an answer to this node proves that the manager hears it: a heartbeat's acknowledgement, or a session it
    // opened. Anything else may come down a link that no longer carries this node's words (a one-way partition):
    // taken as contact, it would keep the node from fencing while the leader marks it down and replaces its tasks.
    const opens =
      message.session !== undefined && (message.session.sessionId !== this.sessionId || this.state !== 'connected');
    if (opens) this.unacked = [];
    if (message.heartbeatAck !== undefined || opens) {
      this.contact();
      // Held back while unacknowledged (a manager that fell behind writes them before the acknowledgement): the
      // manager heard this node after all, so they apply now, in order.
      const held = this.unacked;
      this.unacked = [];
      for (const a of held) this.options.onAssignments?.(a);
    } else if (
      message.assignments &&
      (this.unacked.length > 0 || (this.state === 'connected' && this.silentForMs() > UNACKED_PERIODS * this.periodMs))
    ) {
      // Heard, but not heard back: a task started now could be one the leader is replacing elsewhere. Held until the
      // manager is heard from; dropped with the session if it is not (the next session brings the whole set).
      this.unacked.push(message.assignments);
      return;
    }
    if (message.session) {
      this.selfFenceMs = Number(message.session.selfFenceTimeoutMs);
      const managers = message.session.managers;
      if (managers.length > 0 && managers.join() !== this.managers.join()) {
        this.managers = [...managers];
        this.options.onManagers?.(this.managers);
      }
      this.options.onSessionInfo?.(message.session);
      // The same session again only brings a new list of managers.
      if (message.session.sessionId === this.sessionId && this.state === 'connected') return;
      this.sessionId = message.session.sessionId;
      this.state = 'connected';
      this.connectedAt = this.now();
      this.sessions++;
      this.delay = this.options.backoffMs?.first ?? 100;
      clearInterval(this.heartbeat);
      const period = Number(message.session.heartbeatPeriodMs) || 1_000;
      this.periodMs = period;
      this.heartbeat = setInterval(() => {
        // A manager that does not read gets no more: without acks, the watchdog drops the session (see check).
        if (!this.stream || this.stream.writableLength >= MAX_UNREAD_BATCHES) return;
        this.stream.write({ heartbeat: { sentAtMs: BigInt(Date.now()) } });
        this.heartbeatsSent++;
      }, period);
    }
    if (message.network) this.options.onNetwork?.(message.network);
    if (message.assignments) this.options.onAssignments?.(message.assignments);
    if (message.promotion) this.options.onPromotion?.(message.promotion);
  }

  private teardown(): void {
    this.unacked = [];
    this.dropAttempts();
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.heartbeat = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
  }
}
