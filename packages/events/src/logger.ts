/**
 * The slice of a pino logger this package uses. A pino logger (or a child with `{ component }`) fits as is; the
 * package does not depend on pino so that the composition root chooses the logger and its level.
 */
export interface EventsLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = () => undefined;

export const silentLogger: EventsLogger = { debug: noop, info: noop, warn: noop, error: noop };
