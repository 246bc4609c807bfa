import { Code, type ControlServiceClient, FlotillaError } from '@flotilla/api';
import type { Io } from './io.js';
import { keyValue } from './service-flags.js';

/** Runs `fn` with a control client made for it, closed when `fn` is done. */
export function clientScope(client: () => ControlServiceClient) {
  return async <T>(fn: (c: ControlServiceClient) => Promise<T>): Promise<T> => {
    const c = client();
    return fn(c).finally(() => c.close());
  };
}

/**
 * Removes each object in turn, as docker's `rm` commands do: each removed one is printed, and one refused does not
 * keep the others; the refusals are thrown together at the end.
 */
export async function removeEach(io: Io, refs: readonly string[], remove: (ref: string) => Promise<unknown>) {
  const refused: string[] = [];
  for (const ref of refs) {
    try {
      await remove(ref);
      io.out(`${ref}\n`);
    } catch (err) {
      refused.push(FlotillaError.from(err).message);
    }
  }
  if (refused.length > 0) throw new FlotillaError(Code.FailedPrecondition, refused.join('\n'));
}

/** Repeated `FLAG KEY=VALUE` values as a map (a later key wins). */
export function labelMap(flag: string, pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(pairs.map((pair) => keyValue(flag, pair)));
}
