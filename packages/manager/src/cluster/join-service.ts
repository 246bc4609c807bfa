import {
  type JoinRequest,
  type JoinResponse,
  Node,
  type NodeCaServiceServer,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  newId,
} from '@flotilla/api';
import { type CertificateAuthority, PkiError, parseJoinToken, roleForToken } from '@flotilla/pki';
import { CLUSTER_KEY, type Store, StoreError } from '@flotilla/store';
import { type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { checkDescription } from '../input-limits.js';

/** CSRs and descriptions are small; anything bigger is refused before it is parsed. */
const MAX_CSR_BYTES = 16 * 1024;

/**
 * The Join RPC: checks the token against the hashes in the Cluster object (so any manager can admit a node),
 * issues a certificate for a new node ID with the token's role, and records the node. The node's identity is
 * decided here, never taken from the request.
 */
export function joinService(store: Store, ca: CertificateAuthority, caKeyPem: string): NodeCaServiceServer {
  return {
    join: (call: ServerUnaryCall<JoinRequest, JoinResponse>, callback: sendUnaryData<JoinResponse>) => {
      join(store, ca, caKeyPem, call.request).then(
        (response) => callback(null, response),
        (err: unknown) => callback(toStatus(err)),
      );
    },
  };
}

async function join(
  store: Store,
  ca: CertificateAuthority,
  caKeyPem: string,
  request: JoinRequest,
): Promise<JoinResponse> {
  if (request.csrPem.length > MAX_CSR_BYTES) throw new PkiError('bad-csr', 'the certificate request is too large');
  checkDescription(request.description);
  const cluster = await store.get('clusters', CLUSTER_KEY);
  if (!cluster) throw new StoreError('not-found', 'the cluster is not initialized');
  const role = roleForToken(parseJoinToken(request.token), ca.fingerprint, {
    worker: cluster.value.workerTokenHash,
    manager: cluster.value.managerTokenHash,
  });
  if (request.manager && role !== 'manager') {
    throw new PkiError('bad-token', 'a manager joins with the manager token: see flotilla join-token manager');
  }
  const nodeId = newId();
  const certPem = await ca.issue({ csrPem: request.csrPem, nodeId, role });
  if (request.manager) {
    // A manager of the control plane, not a node that runs tasks: it is known by its election candidacy.
    return { nodeId, certPem, caCertPem: ca.certPem, role: NodeSpec_Role.ROLE_MANAGER, caKeyPem };
  }
  const now = BigInt(Date.now());
  await store.create(
    'nodes',
    nodeId,
    Node.fromPartial({
      id: nodeId,
      description: request.description,
      spec: {
        role: role === 'manager' ? NodeSpec_Role.ROLE_MANAGER : NodeSpec_Role.ROLE_WORKER,
        availability: NodeSpec_Availability.AVAILABILITY_ACTIVE,
      },
      // Ready only once it holds a session and heartbeats.
      status: { state: NodeStatus_State.STATE_UNKNOWN, message: 'joined' },
      createdAtMs: now,
      updatedAtMs: now,
    }),
  );
  return {
    nodeId,
    certPem,
    caCertPem: ca.certPem,
    role: role === 'manager' ? NodeSpec_Role.ROLE_MANAGER : NodeSpec_Role.ROLE_WORKER,
    caKeyPem: '',
  };
}

/** Domain errors become gRPC statuses here, at the transport edge, with the message kept for the user. */
function toStatus(err: unknown): { code: status; message: string } {
  if (err instanceof PkiError) {
    const code =
      err.code === 'bad-token' || err.code === 'wrong-ca' || err.code === 'untrusted'
        ? status.PERMISSION_DENIED
        : status.INVALID_ARGUMENT;
    return { code, message: `${err.code}: ${err.message}` };
  }
  if (err instanceof StoreError) {
    return { code: err.code === 'unavailable' ? status.UNAVAILABLE : status.INTERNAL, message: err.message };
  }
  return { code: status.INTERNAL, message: 'internal error while joining' };
}
