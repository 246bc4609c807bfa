import type { LogShipperFactory } from '@flotilla/agent';
import { connectRedis, LogSink } from '@flotilla/events';

/**
 * What agents ship their tasks' output with: a `LogSink` on its own Redis client. It lives here, with the other
 * composition, because the agent package cannot depend on @flotilla/events (see `LogShipperFactory`).
 */
export const redisLogShipper: LogShipperFactory = (url, logger) =>
  new LogSink(connectRedis({ url, name: 'flotilla-agent-logs', ...(logger ? { logger } : {}) }), {
    ...(logger ? { logger } : {}),
  });
