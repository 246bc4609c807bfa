import { type CaRotationProgress, type Cluster, Code, type ControlServiceServer, FlotillaError } from '@flotilla/api';
import { caFingerprint } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import { finishRotation, openRotation, rotationProgress, startRotation } from '../cluster/ca-rotation.js';
import type { ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import type { Handle } from './handler.js';

/** What the control API needs for `cluster ca --rotate` and the CA part of `cluster inspect`. */
export interface CaControl {
  identity: ManagerIdentity;
  /** The live managers (they must renew before a rotation ends). */
  liveManagerIds: () => Iterable<string>;
  /** The managers' own etcd members that do not answer (by name: the manager's node ID); none with an external etcd. */
  silentEtcdMembers?: () => Promise<string[]>;
}

/** The CA as `cluster inspect` shows it: its fingerprint and, during a rotation, its progress. */
export async function caStatus(
  store: Store,
  cluster: Cluster,
  control: CaControl | undefined,
): Promise<{ caFingerprint: string; caRotation?: CaRotationProgress }> {
  const fingerprint = cluster.caCertPem ? caFingerprint(cluster.caCertPem) : '';
  if (!cluster.caRotation) return { caFingerprint: fingerprint };
  const live = control?.liveManagerIds() ?? [];
  return { caFingerprint: fingerprint, caRotation: await rotationProgress(store, cluster.caRotation, live) };
}

/**
 * RotateCa: starts a rotation (refused while one is under way), or with `force` ends the one under way now (nodes
 * that have not renewed yet must join again; refused when none is). Answers with the progress.
 */
export function caControl(
  store: Store,
  handle: Handle,
  control: CaControl | undefined,
): Pick<ControlServiceServer, 'rotateCa'> {
  return {
    rotateCa: handle(async (request) => {
      if (!control) throw new FlotillaError(Code.FailedPrecondition, 'only a manager rotates the CA');
      const cluster = (await store.get('clusters', CLUSTER_KEY))?.value;
      if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
      if (request.force && !cluster.caRotation)
        throw new FlotillaError(
          Code.FailedPrecondition,
          'no CA rotation is under way: start one with cluster ca --rotate',
        );
      if (request.force && cluster.caRotation) {
        const progress = await rotationProgress(store, cluster.caRotation, control.liveManagerIds());
        const { keyPem } = await openRotation(cluster.caRotation, control.identity.caKeyPem);
        await finishRotation(store, cluster.caRotation.newCaCertPem, keyPem, control.identity.caKeyPem);
        return { rotation: progress };
      }
      // The managers' own etcd members follow the rotation (see EtcdRotation), each started again in turn, which
      // needs every member: with one silent, the rotation could never end. An external etcd's certificates are its
      // operator's, and the rotation leaves them as they are.
      const silent = (await control.silentEtcdMembers?.()) ?? [];
      if (silent.length > 0) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `the etcd members of managers ${silent.join(', ')} do not answer, and a CA rotation moves every member in ` +
            'turn: start those managers again, or remove them (node demote), then rotate',
        );
      }
      const rotation = await startRotation(store, control.identity);
      return { rotation: await rotationProgress(store, rotation, control.liveManagerIds()) };
    }),
  };
}
