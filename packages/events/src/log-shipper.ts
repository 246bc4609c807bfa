import { connectRedis } from './connection.js';
import { LogSink } from './log-sink.js';
import type { EventsLogger } from './logger.js';

/** What agents ship their tasks' output with: a `LogSink` on its own Redis client. */
export function redisLogShipper(url: string, logger?: EventsLogger): LogSink {
  return new LogSink(connectRedis({ url, name: 'flotilla-agent-logs', ...(logger ? { logger } : {}) }), {
    ...(logger ? { logger } : {}),
  });
}
