import { type PeerServiceServer, probeResponse, toGrpcStatus } from '@flotilla/api';
import type { CertificateAuthority } from '@flotilla/pki';
import { peerIdentity } from '../peer-identity.js';

/**
 * The quorum rule's probe, as a manager answers it on its gRPC port: whether it hears a leader (see
 * ControlPlane.hearsLeader). Only callers with a certificate of this cluster (nodes, managers) get an answer.
 */
export function peerService(
  ca: CertificateAuthority,
  leaderHeard: () => { hearsLeader: boolean; forMs: number },
): PeerServiceServer {
  return {
    probe: (call, callback) => {
      try {
        peerIdentity(call, ca);
      } catch (err) {
        callback(toGrpcStatus(err));
        return;
      }
      const { hearsLeader, forMs } = leaderHeard();
      callback(null, probeResponse({ hearsLeader, silentMs: 0, leaderHeardForMs: forMs }));
    },
  };
}
