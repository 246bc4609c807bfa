import {
  ClusterSettings,
  ClusterSettings_SecurityProfile,
  Code,
  type ControlServiceServer,
  FlotillaError,
  NodeSpec_Role,
} from '@flotilla/api';
import type { Store } from '@flotilla/store';
import { checkCertExpiry } from '../cluster/cert-expiry.js';
import type { JoinTokens } from '../cluster/join-tokens.js';
import { managerCountWarnings } from '../cluster/manager-records.js';
import { revokeIdentity } from '../cluster/revocations.js';
import { allowedBindPrefixes } from './admission/host-paths.js';
import { type CaControl, caControl, caStatus } from './ca-control.js';
import { modifySettings, readSettings } from './cluster-settings.js';
import type { Handle } from './handler.js';

const KNOWN_PROFILES = new Set<number>([
  ClusterSettings_SecurityProfile.SECURITY_PROFILE_UNSPECIFIED,
  ClusterSettings_SecurityProfile.SECURITY_PROFILE_PRIVILEGED,
  ClusterSettings_SecurityProfile.SECURITY_PROFILE_BASELINE,
  ClusterSettings_SecurityProfile.SECURITY_PROFILE_RESTRICTED,
]);

type ClusterHandlers = Pick<
  ControlServiceServer,
  'getCluster' | 'updateCluster' | 'getJoinToken' | 'revokeOperator' | 'rotateCa'
>;

/** The cluster object in the control API: its settings, and the join tokens it keeps sealed. */
export function clusterControl(
  store: Store,
  tokens: JoinTokens,
  handle: Handle,
  warnings: readonly string[] = [],
  ca?: CaControl,
): ClusterHandlers {
  return {
    ...caControl(store, handle, ca),
    getCluster: handle(async () => {
      const [cluster, managers] = await Promise.all([readSettings(store), store.list('managers')]);
      if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
      return {
        id: cluster.id,
        settings: cluster.settings,
        createdAtMs: cluster.createdAtMs,
        warnings: [...warnings, ...managerCountWarnings(managers.items.map((m) => m.value))],
        ...(await caStatus(store, cluster, ca)),
      };
    }),
    updateCluster: handle(async (request) => {
      if (request.certExpiryMs !== undefined) checkCertExpiry(request.certExpiryMs);
      if (request.securityProfile !== undefined && !KNOWN_PROFILES.has(request.securityProfile)) {
        throw new FlotillaError(
          Code.InvalidArgument,
          'unknown security profile: use privileged, baseline or restricted',
        );
      }
      const allowBind = request.allowedBindPrefixes && allowedBindPrefixes(request.allowedBindPrefixes.prefixes);
      // The admission policy's own key is written with the Cluster object, so deploys see a change of it.
      const settings = await modifySettings(store, (c) => {
        const current = ClusterSettings.fromPartial(c.settings ?? {});
        const next: ClusterSettings = {
          ...current,
          ...(request.placementStrategy === undefined ? {} : { placementStrategy: request.placementStrategy }),
          ...(request.selfFenceTimeoutMs === undefined ? {} : { selfFenceTimeoutMs: request.selfFenceTimeoutMs }),
          ...(request.rebalanceDisabled === undefined ? {} : { rebalanceDisabled: request.rebalanceDisabled }),
          ...(request.taskHistoryLimit === undefined ? {} : { taskHistoryLimit: request.taskHistoryLimit }),
          ...(request.certExpiryMs === undefined ? {} : { certExpiryMs: request.certExpiryMs }),
          ...(request.securityProfile === undefined ? {} : { securityProfile: request.securityProfile }),
          ...(allowBind === undefined ? {} : { allowedBindPrefixes: allowBind }),
        };
        const grace = next.heartbeatPeriodMs * BigInt(next.heartbeatGracePeriods);
        if (next.selfFenceTimeoutMs >= grace) {
          throw new FlotillaError(
            Code.InvalidArgument,
            `the self-fence timeout must stay below the heartbeat grace (${grace} ms), or a cut-off node's tasks could run twice`,
          );
        }
        // Revocations are kept as long as the longest certificate the cluster may have issued.
        const longest = BigInt(Math.max(Number(next.certExpiryMs), Number(c.longestCertExpiryMs)));
        return { ...c, settings: next, longestCertExpiryMs: longest };
      });
      if (!settings) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
      return { settings: settings.settings };
    }),
    revokeOperator: handle(async (request) => {
      const id = request.operatorId.trim();
      if (!/^[a-z0-9]{1,64}$/.test(id)) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `${JSON.stringify(request.operatorId)} is not an operator ID: cluster inspect shows this CLI's as operator.id`,
        );
      }
      await revokeIdentity(store, { subjectId: id, role: 'operator', reason: 'operator revoked' });
      return {};
    }),
    getJoinToken: handle(async (request) => {
      const role = request.role === NodeSpec_Role.ROLE_MANAGER ? 'manager' : 'worker';
      return { token: request.rotate ? await tokens.rotate(role) : await tokens.get(role) };
    }),
  };
}
