import type { BackupClusterRequest, BackupClusterResponse, ControlServiceServer } from '@flotilla/api';
import { toGrpcStatus } from '@flotilla/api';
import { checkPassphrase } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { makeBackup } from '../cluster/cluster-backup.js';
import type { ManagerIdentity } from '../cluster/cluster-bootstrap.js';
import { refuseWorkers } from './handler.js';

/** Parts of a backup as sent: well under gRPC's 4 MiB message limit. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * `BackupCluster`: any manager makes the backup (it reads etcd at one revision and holds the CA key) and sends it
 * in parts. Only operators and managers may ask; the passphrase goes no further than the encryption.
 */
export function clusterBackup(store: Store, identity: ManagerIdentity): ControlServiceServer['backupCluster'] {
  return (call: ServerWritableStream<BackupClusterRequest, BackupClusterResponse>) => {
    Promise.resolve()
      .then(async () => {
        refuseWorkers(call, identity.ca);
        checkPassphrase(call.request.passphrase);
        const bytes = await makeBackup(
          store.client,
          { clusterId: identity.clusterId, certPem: identity.ca.certPem, keyPem: identity.caKeyPem },
          call.request.passphrase,
        );
        for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
          if (call.cancelled) return;
          const more = call.write({ chunk: bytes.subarray(at, at + CHUNK_BYTES) });
          if (!more) await new Promise((resolve) => call.once('drain', resolve));
        }
        call.end();
      })
      .catch((err: unknown) => {
        if (!call.cancelled) call.emit('error', toGrpcStatus(err, 'the backup could not be made'));
      });
  };
}
