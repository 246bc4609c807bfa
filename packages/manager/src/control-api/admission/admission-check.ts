import { admissionError, type ServiceSpec } from '@flotilla/api';
import type { Store, Unchanged } from '@flotilla/store';
import { CONFLICT_ATTEMPTS, retryOnConflict } from '../conflict-retry.js';
import { admissionRefusals, admissionSettings } from './admission-policy.js';
import { policyUnchanged, readPolicy } from './policy-store.js';

/**
 * Refuses specs the cluster's security profile does not admit, before anything is written: the error lists each
 * refusal with its stack key path and the setting that would allow it. `what` names the write ("the deploy of
 * stack web"). Resolves with what the write's transaction must require unchanged (its `atomic.unchanged`), so the
 * write lands only under the policy it was judged by (see `admittedWrite`).
 */
export async function checkAdmission(
  store: Pick<Store, 'get'>,
  services: readonly ServiceSpec[],
  what: string,
): Promise<Unchanged> {
  const policy = await readPolicy(store);
  const refusals = admissionRefusals(services, admissionSettings(policy.value));
  if (refusals.length > 0) throw admissionError(what, refusals);
  return policyUnchanged(policy);
}

/** How many times a write is judged and tried before it gives up on a policy (or objects) that keep changing. */
export const ADMITTED_WRITE_ATTEMPTS = CONFLICT_ATTEMPTS;

/**
 * Runs `attempt` (read, `checkAdmission`, then one transaction that requires the policy unchanged) again from the start each time
 * its transaction meets a conflict: a policy changed since it was read is read again and the write judged again,
 * so a write is never applied under a policy that was already replaced.
 */
export function admittedWrite<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  return retryOnConflict(
    attempt,
    (n) =>
      `${what} was not applied: the admission policy or the objects it writes changed each of the ${n} times it was judged; nothing was written: run it again`,
  );
}
