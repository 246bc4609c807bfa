import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** A pino JSON logger for one component (manager, agent, dispatcher…), at LOG_LEVEL or info. */
export function createLogger(
  component: string,
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { component },
      redact: ['token', '*.token', 'keyPem', '*.keyPem'],
    },
    options.destination ?? process.stderr,
  );
}
