import type { NodeCertificates } from '@flotilla/agent';
import { Code, type ControlServiceServer, FlotillaError, toGrpcStatus } from '@flotilla/api';
import type { EventReader, LogReader } from '@flotilla/events';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import type { ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import { JoinTokens } from '../cluster/join-tokens.js';
import { managerClientCredentials } from '../cluster/server-credentials.js';
import type { DataKey } from '../secrets/data-key.js';
import { clusterBackup } from './backup.js';
import type { CaControl } from './ca-control.js';
import { clusterControl } from './cluster.js';
import { clusterEvents } from './events/cluster-events.js';
import { fileObjectControl } from './file-objects.js';
import { forwardWrites } from './forward-writes.js';
import { handler } from './handler.js';
import { type ServiceLogsOptions, serviceLogs } from './logs/service-logs.js';
import { networkControl } from './networks.js';
import { type LiveManagers, type NodePromotions, nodeControl } from './nodes.js';
import { serviceControl } from './services.js';
import { stackControl } from './stacks.js';
import { taskControl } from './tasks.js';
import { clusterWatch } from './watch.js';

/**
 * What the control API needs beyond the store: where `ServiceLogs` reads container logs from and `Events` the event
 * log (none when the managers were started without Redis), and this manager's warnings.
 */
export interface ControlOptions extends ServiceLogsOptions {
  reader?: LogReader;
  events?: EventReader;
  /** What this manager sees wrong with how it runs (`cluster inspect` shows it), e.g. a plaintext etcd. */
  warnings?: readonly string[];
  /** Who leads and which managers are candidates now (`node ls`). */
  managers?: LiveManagers;
  /** `node promote`: the leader's sessions with the nodes. */
  promotions?: NodePromotions;
  /** CA rotation (`cluster ca --rotate`), by a manager that holds the CA key. */
  caRotation?: CaControl;
  /** Backups, made by a manager that holds the CA key. */
  backupCluster?: ControlServiceServer['backupCluster'];
  /** The managers' own etcd members that do not answer now (a CA rotation is refused then). */
  silentEtcdMembers?: () => Promise<string[]>;
  /** The cluster's data key, which seals secrets and configs (a manager's, held in memory). */
  dataKey?: DataKey;
  /** Changes queued per `Watch` call before it is ended (default WATCH_LIMITS.queued). */
  watchQueueLimit?: number;
}

/** Without the CA key there is no whole backup to make. */
const noBackups: ControlServiceServer['backupCluster'] = (call) =>
  call.emit(
    'error',
    toGrpcStatus(new FlotillaError(Code.FailedPrecondition, 'this server makes no backups: ask a manager')),
  );

/** The control API the CLI uses, one part per resource. Only operator and manager certificates may call it. */
export function controlService(
  store: Store,
  ca: CertificateAuthority,
  tokens: JoinTokens,
  logs: ControlOptions = {},
): ControlServiceServer {
  const handle = handler(ca, logs.logger);
  return {
    ...stackControl(store, handle, logs.dataKey),
    ...serviceControl(store, handle, logs.dataKey),
    ...taskControl(store, handle),
    ...nodeControl(store, handle, logs.managers, logs.promotions),
    ...clusterControl(store, tokens, handle, logs.warnings ?? [], logs.caRotation),
    ...fileObjectControl(store, handle, logs.dataKey),
    ...networkControl(store, handle),
    serviceLogs: serviceLogs(store, ca, logs.reader, logs),
    events: clusterEvents(store, ca, logs.events, logs),
    watch: clusterWatch(store, ca, logs),
    backupCluster: logs.backupCluster ?? noBackups,
  };
}

/** Who leads, as the election last read it. */
export interface Leadership {
  leading(): boolean;
  /** The leader's address, while one is known. */
  leader(): string | undefined;
}

/**
 * The control API as a manager serves it: any manager answers reads; writes reach the leader (a follower calls it
 * with its own manager certificate).
 */
export function managerControlService(
  store: Store,
  identity: ManagerIdentity,
  logs: ControlOptions,
  leadership: Leadership,
  /** This manager's renewable certificates (default: those of `identity`, fixed). */
  certificates?: NodeCertificates,
): ControlServiceServer {
  const tokens = new JoinTokens(
    store,
    () => identity.caKeyPem,
    () => identity.ca.fingerprint,
  );
  const service = controlService(store, identity.ca, tokens, {
    caRotation: {
      identity,
      liveManagerIds: () => logs.managers?.().candidateIds ?? [],
      ...(logs.silentEtcdMembers ? { silentEtcdMembers: logs.silentEtcdMembers } : {}),
    },
    ...logs,
    dataKey: identity.dataKey,
    backupCluster: clusterBackup(store, identity),
  });
  return forwardWrites(service, {
    ca: identity.ca,
    credentials: managerClientCredentials(identity, certificates),
    leading: () => leadership.leading(),
    leader: () => leadership.leader(),
  });
}
