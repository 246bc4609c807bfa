import { type EventsLogger, silentLogger } from './logger.js';

/** What every stream reader (events, logs) needs, with the same defaults. */
export interface ReaderSettings {
  /** How long one XREAD BLOCK waits before it is issued again. */
  blockMs: number;
  /** Entries per XRANGE/XREAD round trip. */
  pageSize: number;
  /** How long a call waits for Redis to be reachable before it fails as `unavailable`. */
  readyTimeoutMs: number;
  logger: EventsLogger;
}

export function readerSettings(options: Partial<ReaderSettings>): ReaderSettings {
  return {
    blockMs: options.blockMs ?? 1_000,
    pageSize: options.pageSize ?? 500,
    readyTimeoutMs: options.readyTimeoutMs ?? 5_000,
    logger: options.logger ?? silentLogger,
  };
}
