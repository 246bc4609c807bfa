import type { SessionRequest, SessionResponse } from '@flotilla/api';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { NodeRuntime } from './node-runtime.js';

/** One agent's session, over mutual TLS: its stream and what the dispatcher keeps about it. */
export interface Session {
  id: string;
  nodeId: string;
  call: ServerDuplexStream<SessionRequest, SessionResponse>;
  /** A ready status is being written for the node (one write at a time). */
  writing: boolean;
  /** The agent said it is restarting (at, and how long to wait for it); only the first goodbye counts. */
  goodbye?: { at: number; waitMs: number };
  /** The node's address as this manager sees the connection: its underlay address for the overlay. */
  address: string;
  /** The network view last sent (encoded), so an unchanged one is not sent again. */
  lastView?: Buffer;
  /** The agent wires overlay networks (said at the start of the session): only then is it sent views. */
  overlay: boolean;
  /** HOST:PORT of the node's PeerService: where the connection comes from, and the port the agent said. */
  probeAddress?: string;
  /** HOST:PORT a manager of the node's own would serve on (agent start --manager-listen): it can be promoted. */
  managerAddress?: string;
  /** How the node runs tasks, as its agent said when it opened the session (none from an older agent). */
  runtime?: NodeRuntime;
}

/** The open sessions, one per node. */
export class Sessions {
  private readonly byNode = new Map<string, Session>();

  /** A node has one session: a newer one (after a reconnect) replaces the old, which ends. */
  add(session: Session): void {
    this.byNode.get(session.nodeId)?.call.end();
    this.byNode.set(session.nodeId, session);
  }

  get(nodeId: string): Session | undefined {
    return this.byNode.get(nodeId);
  }

  /** Whether the session is still its node's (not replaced, not ended by the dispatcher). */
  current(session: Session): boolean {
    return this.byNode.get(session.nodeId) === session;
  }

  /** Forgets a session that closed; false if it was no longer its node's. */
  release(session: Session): boolean {
    if (!this.current(session)) return false;
    this.byNode.delete(session.nodeId);
    return true;
  }

  /** Ends a node's session, if it has one. */
  end(nodeId: string): void {
    const session = this.byNode.get(nodeId);
    this.byNode.delete(nodeId);
    session?.call.end();
  }

  endAll(): void {
    for (const s of this.byNode.values()) s.call.end();
    this.byNode.clear();
  }

  nodeIds(): string[] {
    return [...this.byNode.keys()];
  }

  all(): IterableIterator<Session> {
    return this.byNode.values();
  }
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
 * Where a node's PeerService answers: the host its session comes from (IPv4, or IPv6 in brackets) and the port
 * its agent said; "" without a port or a host.
 */
export function probeAddress(peer: string, port: number): string {
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return '';
  const v4 = peerAddress(peer);
  if (v4) return `${v4}:${port}`;
  const v6 = /^(?:ipv6:)?\[([^\]]+)\]:\d+$/.exec(peer)?.[1];
  return v6 ? `[${v6}]:${port}` : '';
}
