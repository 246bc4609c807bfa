import { connectRedis, type RedisTlsOptions } from './connection.js';
import { LogSink } from './log-sink.js';
import type { EventsLogger } from './logger.js';

export interface LogShipperOptions {
  /** The node whose tasks' output this is: lines go to its own streams (`flotilla:logs:<nodeId>:<taskId>`). */
  nodeId?: string;
  /** With a `rediss://` URL: the CA to verify Redis with and the node's certificate to present. */
  tls?: RedisTlsOptions;
}

/**
 * What agents ship their tasks' output with: a `LogSink` on its own Redis client. No INFO ready check: a node's
 * Redis user may only append.
 */
export function redisLogShipper(url: string, logger?: EventsLogger, options: LogShipperOptions = {}): LogSink {
  const redis = connectRedis({
    url,
    name: 'flotilla-agent-logs',
    readyCheck: false,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(logger ? { logger } : {}),
  });
  return new LogSink(redis, {
    ...(options.nodeId ? { nodeId: options.nodeId } : {}),
    ...(logger ? { logger } : {}),
  });
}
