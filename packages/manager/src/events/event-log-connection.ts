import { redisUrl } from '@flotilla/agent';
import { connectRedis, EventLog } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';

/**
 * The event log the leader writes to, on a connection of its own. Opened at the manager's start (every manager
 * may come to lead); it connects in the background and, while Redis is away, holds events in its bounded buffer.
 */
export function openEventLog(redis: { address: string; password?: string }, logger: Logger): EventLog {
  const url = redisUrl(redis.address, redis.password);
  return new EventLog(connectRedis({ url, name: 'flotilla-manager-event-log', logger }), { logger });
}
