import type { SessionRequest } from '@flotilla/api';
import { TokenBucket } from './token-bucket.js';

/**
 * What a node may send on its session, per kind of message. Each is a token bucket (a rate and a burst). The
 * defaults leave a well-behaved agent far inside them: it sends a heartbeat per period, at most one status batch
 * per 50 ms (one update per task, coalesced), and its capabilities once per session.
 */
export interface SessionLimits {
  /** Messages of any kind per second, and the burst. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Heartbeats per heartbeat period (a node beating this much faster than told is flooding), and the burst. */
  heartbeatsPerPeriod: number;
  heartbeatBurst: number;
  /** Status updates per second: a base, and this many more per task assigned to the node. The burst is twice. */
  statusPerSecond: number;
  statusPerTask: number;
  /** Capabilities and descriptions (said once per session): the burst, then one per this many ms. */
  descriptionBurst: number;
  descriptionEveryMs: number;
}

export const SESSION_LIMITS: SessionLimits = {
  messagesPerSecond: 200,
  messageBurst: 400,
  heartbeatsPerPeriod: 4,
  heartbeatBurst: 8,
  statusPerSecond: 500,
  statusPerTask: 10,
  descriptionBurst: 5,
  descriptionEveryMs: 5_000,
};

/** What a node exceeded: the kind of message and the limit, said in its cut-off's log line and status. */
export interface Flood {
  exceeded: string;
  limit: string;
}

/** One session's budget: each message is checked before anything is done with it. */
export class SessionBudget {
  private readonly messages: TokenBucket;
  private readonly heartbeats: TokenBucket;
  private readonly statuses: TokenBucket;
  private readonly descriptions: TokenBucket;

  constructor(
    private readonly limits: SessionLimits,
    private readonly periodMs: number,
    now: number,
  ) {
    this.messages = new TokenBucket(limits.messageBurst, now);
    this.heartbeats = new TokenBucket(limits.heartbeatBurst, now);
    // Starts full for a node with no task yet; a node's budget grows with its tasks as they come.
    this.statuses = new TokenBucket(statusBudget(limits, 0).capacity, now);
    this.descriptions = new TokenBucket(limits.descriptionBurst, now);
  }

  /** Takes what the message costs; the limit it goes over, if any (the session is then cut off). */
  check(message: SessionRequest, assignedTasks: number, now: number): Flood | undefined {
    const { limits } = this;
    const messages = { capacity: limits.messageBurst, perSecond: limits.messagesPerSecond };
    if (!this.messages.take(1, messages, now)) {
      return { exceeded: 'messages', limit: `${limits.messagesPerSecond}/s (burst ${limits.messageBurst})` };
    }
    if (message.heartbeat) {
      const perSecond = (limits.heartbeatsPerPeriod * 1000) / Math.max(1, this.periodMs);
      if (!this.heartbeats.take(1, { capacity: limits.heartbeatBurst, perSecond }, now)) {
        return {
          exceeded: 'heartbeats',
          limit: `${limits.heartbeatsPerPeriod} per heartbeat period of ${this.periodMs} ms (burst ${limits.heartbeatBurst})`,
        };
      }
    }
    if (message.capabilities || message.description) {
      const budget = { capacity: limits.descriptionBurst, perSecond: 1000 / limits.descriptionEveryMs };
      if (!this.descriptions.take(1, budget, now)) {
        return {
          exceeded: 'capabilities and descriptions',
          limit: `${limits.descriptionBurst}, then one per ${limits.descriptionEveryMs} ms`,
        };
      }
    }
    const updates = message.status?.updates.length ?? 0;
    if (updates > 0) {
      const budget = statusBudget(limits, assignedTasks);
      if (updates > budget.capacity) {
        return { exceeded: `a status batch of ${updates} updates`, limit: `${budget.capacity} updates per batch` };
      }
      if (!this.statuses.take(updates, budget, now)) {
        return {
          exceeded: 'status updates',
          limit: `${budget.perSecond}/s for a node with ${assignedTasks} tasks (burst ${budget.capacity})`,
        };
      }
    }
    return undefined;
  }
}

/** The status updates a node with this many tasks may send: per second, and at once. */
export function statusBudget(limits: SessionLimits, assignedTasks: number): { capacity: number; perSecond: number } {
  const perSecond = limits.statusPerSecond + limits.statusPerTask * Math.max(0, assignedTasks);
  return { perSecond, capacity: 2 * perSecond };
}

/** Why a session was cut off, in words: for the log line, the node's status and the refusal of a reconnect. */
export function floodReason(flood: Flood): string {
  return `sent ${flood.exceeded} over the limit of ${flood.limit}`;
}
