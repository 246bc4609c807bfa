import type { SessionResponse } from '@flotilla/api';

/** What of a session stream the writer needs: grpc-js server streams are Node writables. */
export interface WritableStream {
  write(message: SessionResponse): boolean;
  readonly writableNeedDrain: boolean;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

/** The kinds of message a session carries toward the agent, in the order held ones are sent after a drain. */
const KINDS = ['session', 'assignments', 'network', 'promotion', 'heartbeatAck'] as const;
export type MessageKind = (typeof KINDS)[number];

export interface SessionWriterOptions {
  /**
   * The node's whole assignment set as it is now: sent after a drain in place of the changes held back. Several
   * messages when the files its tasks use do not fit in one (they are written together).
   */
  fullAssignments: () => SessionResponse | SessionResponse[];
  /** How long the stream may stay behind (the agent not reading) before `onBehind` is called (ms). */
  maxBehindMs: number;
  /** The agent stayed behind past the bound: the session is to be closed, for this reason. */
  onBehind: (reason: string) => void;
  now?: () => number;
}

/**
 * Writes to one agent's session without an unbounded queue. While the stream takes messages (gRPC's flow control
 * lets them through), they go straight on. Once it pushes back (the agent does not read), at most one message
 * of each kind is held: the latest session info, network view, promotion and acknowledgement, and for the
 * assignments a note that the whole set is to be sent, made fresh from the store's cache when the stream drains.
 * An agent that stays behind past `maxBehindMs` has its session closed (`onBehind`).
 */
export class SessionWriter {
  private readonly held = new Map<MessageKind, () => SessionResponse | SessionResponse[]>();
  private behindSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private closed = false;
  /** Messages held back (replaced or coalesced) since the session opened: for stats and tests. */
  heldBack = 0;

  constructor(
    private readonly stream: WritableStream,
    private readonly options: SessionWriterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends a message now, or holds it (the latest of its kind) until the stream drains. Messages given together
   * (an assignment set and the files ahead of it) are written together: once the first goes, the rest follow even
   * if the stream pushes back meanwhile (they are one node's set, bounded), so the agent never gets half of them.
   */
  send(kind: MessageKind, message: SessionResponse | SessionResponse[]): void {
    if (this.closed) return;
    if (this.behindSince === undefined && !this.stream.writableNeedDrain) {
      if (!this.writeAll(message)) this.fallBehind();
      return;
    }
    this.heldBack++;
    // A change to the assignments stands for the whole set: the changes held back are not kept one by one.
    this.held.set(kind, kind === 'assignments' ? this.options.fullAssignments : () => message);
  }

  /** Messages held now (at most one per kind). */
  get holding(): number {
    return this.held.size;
  }

  /** Whether the stream is behind (the agent has not read what was sent). */
  get behind(): boolean {
    return this.behindSince !== undefined;
  }

  /** The session ended: nothing more is sent or held. */
  close(): void {
    this.closed = true;
    this.held.clear();
    clearTimeout(this.timer);
    this.stream.removeListener('drain', this.drained);
  }

  /** Writes every message given; false when the stream asked to wait (the last write, or any before it). */
  private writeAll(message: SessionResponse | SessionResponse[]): boolean {
    let ok = true;
    for (const m of Array.isArray(message) ? message : [message]) ok = this.stream.write(m) && ok;
    return ok;
  }

  private fallBehind(): void {
    if (this.behindSince !== undefined) return;
    this.behindSince = this.now();
    this.stream.once('drain', this.drained);
    this.timer = setTimeout(() => this.tooSlow(), this.options.maxBehindMs);
    this.timer.unref?.();
  }

  private readonly drained = (): void => {
    if (this.closed) return;
    this.behindSince = undefined;
    clearTimeout(this.timer);
    for (const kind of KINDS) {
      const make = this.held.get(kind);
      if (!make) continue;
      this.held.delete(kind);
      if (!this.writeAll(make())) {
        this.fallBehind();
        return;
      }
    }
  };

  private tooSlow(): void {
    if (this.closed || this.behindSince === undefined) return;
    const behindMs = this.now() - this.behindSince;
    this.close();
    this.options.onBehind(
      `does not read its session: behind for ${behindMs} ms (limit ${this.options.maxBehindMs} ms), ${this.heldBack} messages held back`,
    );
  }
}
