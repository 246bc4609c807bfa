import { X509Certificate } from 'node:crypto';
import {
  type DispatcherServiceServer,
  type Node,
  NodeStatus_State,
  newId,
  type SessionRequest,
  type SessionResponse,
} from '@flotilla/api';
import { type CertificateAuthority, type NodeIdentity, PkiError } from '@flotilla/pki';
import { type Store, StoreError } from '@flotilla/store';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { expiredNodes } from './node-liveness.js';

export interface DispatcherOptions {
  heartbeatPeriodMs: number;
  /** Heartbeat periods a node may miss before it is marked down. */
  gracePeriods: number;
  /** Addresses of every manager, told to agents so they can reconnect to any. */
  managers: () => string[];
  now?: () => number;
}

interface Session {
  id: string;
  nodeId: string;
  call: ServerDuplexStream<SessionRequest, SessionResponse>;
}

/**
 * Sessions with agents: one per node, over mutual TLS, the node being whoever its certificate says it is. Tracks
 * heartbeats, marks nodes ready when they hold a session and down when they go silent past the grace, and
 * tells each agent its heartbeat period and the managers.
 */
export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  private readonly lastBeat = new Map<string, number>();
  private readonly startedAt: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly options: DispatcherOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  service(): DispatcherServiceServer {
    return { session: (call) => void this.open(call) };
  }

  /** Starts checking heartbeats (every half period). */
  start(): void {
    this.timer ??= setInterval(() => void this.checkLiveness(), Math.max(10, this.options.heartbeatPeriodMs / 2));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.sessions.values()) s.call.end();
    this.sessions.clear();
  }

  connectedNodes(): string[] {
    return [...this.sessions.keys()];
  }

  private async open(call: ServerDuplexStream<SessionRequest, SessionResponse>): Promise<void> {
    let identity: NodeIdentity;
    try {
      identity = this.identify(call);
      const node = await this.store.get('nodes', identity.nodeId);
      if (!node) throw new PkiError('untrusted', `node ${identity.nodeId} was removed from the cluster: join it again`);
    } catch (err) {
      const denied = err instanceof PkiError;
      call.emit('error', {
        code: denied ? status.PERMISSION_DENIED : status.UNAVAILABLE,
        details: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    const session: Session = { id: newId(), nodeId: identity.nodeId, call };
    // A node has one session: a newer one (after a reconnect) replaces the old.
    this.sessions.get(identity.nodeId)?.call.end();
    this.sessions.set(identity.nodeId, session);
    this.lastBeat.set(identity.nodeId, this.now());
    call.write({
      session: {
        sessionId: session.id,
        heartbeatPeriodMs: BigInt(this.options.heartbeatPeriodMs),
        managers: this.options.managers(),
      },
    });
    call.write({ assignments: { full: true, tasks: [], removedTaskIds: [] } });
    await this.setStatus(identity.nodeId, NodeStatus_State.STATE_READY, 'session established');

    call.on('data', (message: SessionRequest) => {
      if (message.heartbeat) this.lastBeat.set(identity.nodeId, this.now());
    });
    const closed = () => {
      if (this.sessions.get(identity.nodeId) !== session) return;
      this.sessions.delete(identity.nodeId);
      void this.setStatus(identity.nodeId, NodeStatus_State.STATE_DISCONNECTED, 'session closed');
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
  }

  /** The caller's identity from its client certificate, which must come from this cluster's CA. */
  private identify(call: ServerDuplexStream<SessionRequest, SessionResponse>): NodeIdentity {
    const raw = call.getAuthContext().sslPeerCertificate?.raw;
    if (!raw) throw new PkiError('untrusted', 'a session needs the node certificate received when joining');
    return this.ca.verify(new X509Certificate(raw));
  }

  private async checkLiveness(): Promise<void> {
    const { items } = await this.store.list('nodes').catch(() => ({ items: [] }));
    const watched = items.filter((n) => n.value.status?.state !== NodeStatus_State.STATE_DOWN).map((n) => n.id);
    const expired = expiredNodes(this.lastBeat, watched, this.now(), {
      periodMs: this.options.heartbeatPeriodMs,
      gracePeriods: this.options.gracePeriods,
      startedAt: this.startedAt,
    });
    const limit = this.options.heartbeatPeriodMs * this.options.gracePeriods;
    for (const nodeId of expired) {
      // The node may have reconnected while the list was read: only a node still silent is marked down.
      if (this.now() - Math.max(this.lastBeat.get(nodeId) ?? this.startedAt, this.startedAt) <= limit) continue;
      this.sessions.get(nodeId)?.call.end();
      this.sessions.delete(nodeId);
      await this.setStatus(nodeId, NodeStatus_State.STATE_DOWN, 'heartbeat failure');
    }
  }

  /** Writes a node's status with compare-and-swap, retrying on a concurrent change. */
  private async setStatus(nodeId: string, state: NodeStatus_State, message: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.store.get('nodes', nodeId).catch(() => undefined);
      if (!current || current.value.status?.state === state) return;
      const next: Node = {
        ...current.value,
        status: {
          state,
          message,
          address: current.value.status?.address ?? '',
          lastHeartbeatMs: BigInt(this.lastBeat.get(nodeId) ?? 0),
        },
        updatedAtMs: BigInt(this.now()),
      };
      try {
        await this.store.update('nodes', nodeId, next, current.version);
        return;
      } catch (err) {
        if (!(err instanceof StoreError) || err.code !== 'conflict') return;
      }
    }
  }
}
