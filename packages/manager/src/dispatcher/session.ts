import { constants as http2 } from 'node:http2';
import { type FlotillaError, type SessionRequest, type SessionResponse, toGrpcStatus } from '@flotilla/api';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { NodeRuntime } from './node-runtime.js';
import type { SessionBudget } from './session-budget.js';
import type { SessionFiles } from './session-files.js';
import type { SessionWriter } from './session-writer.js';

/** One agent's session, over mutual TLS: its stream and what the dispatcher keeps about it. */
export interface Session {
  id: string;
  nodeId: string;
  call: ServerDuplexStream<SessionRequest, SessionResponse>;
  /** Every message toward the agent goes through it: bounded while the agent does not read. */
  writer: SessionWriter;
  /** What the node may still send (messages, heartbeats, status updates) before it is cut off. */
  budget: SessionBudget;
  /** Why the dispatcher closed the session (cut off, or behind), said with the node's status. */
  closedBecause?: string;
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
  /** The secrets' and configs' contents sent in this session that its agent holds, and the tasks held back. */
  files: SessionFiles;
  /** How the node runs tasks, as its agent said when it opened the session (none from an older agent). */
  runtime?: NodeRuntime;
}

/** The open sessions, one per node. */
export class Sessions {
  private readonly byNode = new Map<string, Session>();

  /** A node has one session: a newer one (after a reconnect) replaces the old, which ends. */
  add(session: Session): void {
    const replaced = this.byNode.get(session.nodeId);
    if (replaced) finish(replaced);
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
    session.writer.close();
    return true;
  }

  /** Ends a node's session, if it has one. */
  end(nodeId: string): void {
    const session = this.byNode.get(nodeId);
    this.byNode.delete(nodeId);
    if (session) finish(session);
  }

  endAll(): void {
    for (const s of this.byNode.values()) finish(s);
    this.byNode.clear();
  }

  nodeIds(): string[] {
    return [...this.byNode.keys()];
  }

  all(): IterableIterator<Session> {
    return this.byNode.values();
  }
}

/** How long a call ended with a status has to send it before its HTTP/2 stream is reset. */
const END_GRACE_MS = 1_000;

/**
 * Ends a session's call with a status the agent reads. A status goes out after what is queued before it, so for
 * an agent that does not read, it would never go and the call would hold its queue: the call's HTTP/2 stream is
 * then reset (at once when `behind`, else after a short grace). grpc-js has no public way to reset a server
 * call; its stream is reached where grpc-js keeps it, and if it is not there the call is left to end itself.
 */
export function endCall(
  call: ServerDuplexStream<SessionRequest, SessionResponse>,
  error: FlotillaError,
  behind: boolean,
): void {
  // grpc-js ends the call with this status; the session's error handler then runs.
  call.emit('error', toGrpcStatus(error));
  if (behind) resetCall(call);
  else setTimeout(() => resetCall(call), END_GRACE_MS).unref();
}

/** Ends a session the dispatcher lets go (replaced, removed, silent): at once if its agent does not read it. */
function finish(session: Session): void {
  const behind = session.writer.behind;
  session.writer.close();
  if (behind) resetCall(session.call);
  else session.call.end();
}

function resetCall(call: ServerDuplexStream<SessionRequest, SessionResponse>): void {
  const stream = (call as unknown as { call?: { stream?: { close?: (code: number) => void } } }).call?.stream;
  stream?.close?.(http2.NGHTTP2_CANCEL);
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
