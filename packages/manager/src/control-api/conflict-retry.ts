import { Code, FlotillaError } from '@flotilla/api';

/** How many times a read-then-write is tried before it gives up on objects that keep changing under it. */
export const CONFLICT_ATTEMPTS = 5;

/**
 * Runs `attempt` (reads, then one transaction that requires what it read unchanged) again from the start each
 * time its transaction meets a conflict. The leader's own loops write services and tasks all the time (addresses,
 * ports, update status), so a write the operator asked for must not fail because one of them landed in between;
 * after `attempts` tries, the error says nothing was written, with `gaveUp`'s words.
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T>,
  gaveUp: (attempts: number) => string,
  attempts = CONFLICT_ATTEMPTS,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof FlotillaError) || err.reason !== 'conflict') throw err;
    }
  }
  throw new FlotillaError(Code.Aborted, gaveUp(attempts), { reason: 'conflict' });
}
