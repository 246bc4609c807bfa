import { Code, ControlServiceClient, type ControlServiceServer, FlotillaError, toGrpcStatus } from '@flotilla/api';
import { type CertificateAuthority, MANAGER_SERVER_NAME } from '@flotilla/pki';
import {
  type ChannelCredentials,
  Metadata,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { refuseWorkers } from './handler.js';

/** Control calls that change the cluster: a manager that does not lead sends them on to the leader. */
const WRITES = [
  'deployStack',
  'createService',
  'removeStack',
  'scaleService',
  'updateService',
  'rollbackService',
  'removeService',
  'rebalanceService',
  'updateNode',
  'removeNode',
  'demoteNode',
  'promoteNode',
  'updateCluster',
  'getJoinToken',
  'revokeOperator',
  'rotateCa',
  'createFileObject',
  'removeFileObject',
  'createNetwork',
  'removeNetwork',
] as const satisfies readonly (keyof ControlServiceServer)[];

export interface ForwardOptions {
  ca: CertificateAuthority;
  /** This manager's own credentials, to call the leader with. */
  credentials: ChannelCredentials;
  leading: () => boolean;
  /** The leader's address, while one is known. */
  leader: () => string | undefined;
}

/**
 * Reads are answered by any manager; writes reach the leader. A follower checks the caller itself (a worker's
 * certificate is refused here, never forwarded under the manager's name), then makes the same call on the leader
 * with its own manager certificate and hands back the answer.
 */
export function forwardWrites(local: ControlServiceServer, options: ForwardOptions): ControlServiceServer {
  const clients = new Map<string, ControlServiceClient>();
  const clientFor = (address: string) => {
    let client = clients.get(address);
    if (!client) {
      client = new ControlServiceClient(address, options.credentials, {
        'grpc.ssl_target_name_override': MANAGER_SERVER_NAME,
      });
      clients.set(address, client);
    }
    return client;
  };
  const wrapped: Record<string, unknown> = { ...local };
  for (const method of WRITES) {
    const handler = local[method] as (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;
    wrapped[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      if (options.leading()) return handler(call, callback);
      try {
        refuseWorkers(call, options.ca);
      } catch (err) {
        return callback(toGrpcStatus(err));
      }
      const leader = options.leader();
      if (!leader) {
        return callback(
          toGrpcStatus(new FlotillaError(Code.Unavailable, 'no leader is elected right now: retry in a few seconds')),
        );
      }
      const client = clientFor(leader) as unknown as Record<
        string,
        (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null, v: unknown) => void) => void
      >;
      client[method]?.call(client, call.request, new Metadata(), { deadline: Date.now() + 30_000 }, (err, value) =>
        err ? callback(toGrpcStatus(FlotillaError.from(err))) : callback(null, value),
      );
    };
  }
  return wrapped as unknown as ControlServiceServer;
}
