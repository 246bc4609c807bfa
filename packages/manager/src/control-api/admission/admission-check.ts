import { admissionError, type ServiceSpec } from '@flotilla/api';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { admissionRefusals, admissionSettings } from './admission-policy.js';

/**
 * Refuses specs the cluster's security profile does not admit, before anything is written: the error lists each
 * refusal with its stack key path and the setting that would allow it. `what` names the write ("the deploy of
 * stack web").
 */
export async function checkAdmission(
  store: Pick<Store, 'get'>,
  services: readonly ServiceSpec[],
  what: string,
): Promise<void> {
  const cluster = await store.get('clusters', CLUSTER_KEY);
  const refusals = admissionRefusals(services, admissionSettings(cluster?.value.settings));
  if (refusals.length > 0) throw admissionError(what, refusals);
}
