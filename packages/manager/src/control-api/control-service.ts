import type { ControlServiceServer } from '@flotilla/api';
import type { LogReader } from '@flotilla/events';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import type { JoinTokens } from '../cluster/join-tokens.js';
import { clusterControl } from './cluster.js';
import { handler } from './handler.js';
import { type ServiceLogsOptions, serviceLogs } from './logs/service-logs.js';
import { nodeControl } from './nodes.js';
import { serviceControl } from './services.js';
import { stackControl } from './stacks.js';
import { taskControl } from './tasks.js';

/** Where `ServiceLogs` reads container logs from: none when the managers were started without Redis. */
export interface ControlLogs extends ServiceLogsOptions {
  reader?: LogReader;
}

/** The control API the CLI uses, one part per resource. Only operator and manager certificates may call it. */
export function controlService(
  store: Store,
  ca: CertificateAuthority,
  tokens: JoinTokens,
  logs: ControlLogs = {},
): ControlServiceServer {
  const handle = handler(ca);
  return {
    ...stackControl(store, handle),
    ...serviceControl(store, handle),
    ...taskControl(store, handle),
    ...nodeControl(store, handle),
    ...clusterControl(store, tokens, handle),
    serviceLogs: serviceLogs(store, ca, logs.reader, logs),
  };
}
