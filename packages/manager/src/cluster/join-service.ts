import {
  Code,
  FlotillaError,
  type GrpcStatus,
  type JoinRequest,
  type JoinResponse,
  Node,
  type NodeCaServiceServer,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
  newId,
  type RenewRequest,
  type RenewResponse,
  toGrpcStatus,
} from '@flotilla/api';
import { type CertificateAuthority, isPkiReason, type ParsedToken, parseJoinToken, roleForToken } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { checkDescription } from '../input-limits.js';
import { recordRenewed } from './ca-rotation.js';
import { certExpiryMs } from './cert-expiry.js';
import { type RenewedCertificate, renewCertificate } from './certificate-renewal.js';
import { claimPromotion } from './promotions.js';

/** CSRs and descriptions are small; anything bigger is refused before it is parsed. */
const MAX_CSR_BYTES = 16 * 1024;

/**
 * The Join RPC: checks the token against the hashes in the Cluster object (so any manager can admit a node),
 * issues a certificate for a new node ID with the token's role, and records the node. The node's identity is
 * decided here, never taken from the request.
 */
export function joinService(
  store: Store,
  ca: CertificateAuthority,
  caKeyPem: string | (() => string),
  onRenewed?: (renewed: RenewedCertificate) => void,
  etcdClientUrls: () => Promise<string[]> = async () => [],
): NodeCaServiceServer {
  const key = () => (typeof caKeyPem === 'string' ? caKeyPem : caKeyPem());
  return {
    renew: (call: ServerUnaryCall<RenewRequest, RenewResponse>, callback: sendUnaryData<RenewResponse>) => {
      renewCertificate(store, ca, call, MAX_CSR_BYTES)
        .then(async (renewed) => {
          // During a CA rotation: one more node or manager holds a certificate of the new CA (not written: the
          // renewal fails, and the node's next attempt writes it).
          if (ca.rotating && renewed.identity.role !== 'operator')
            await recordRenewed(store, ca.issuerPem, renewed.identity.nodeId);
          return renewed;
        })
        .then(
          (renewed) => {
            onRenewed?.(renewed);
            callback(null, { certPem: renewed.certPem, caCertPem: ca.trustPem });
          },
          (err: unknown) => callback(toStatus(err)),
        );
    },
    join: (call: ServerUnaryCall<JoinRequest, JoinResponse>, callback: sendUnaryData<JoinResponse>) => {
      join(store, ca, key(), call.request, etcdClientUrls).then(
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
  etcdClientUrls: () => Promise<string[]>,
): Promise<JoinResponse> {
  if (request.csrPem.length > MAX_CSR_BYTES)
    throw new FlotillaError(Code.InvalidArgument, 'the certificate request is too large', { reason: 'bad-csr' });
  checkDescription(request.description);
  const cluster = await store.get('clusters', CLUSTER_KEY);
  if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
  const parsed = parseJoinToken(request.token);
  // A promoted node's manager joins with the one-time credential it was sent: its ID is the promotion's record.
  const promoted = request.manager ? await promotionFor(store, parsed, ca.fingerprint) : undefined;
  const role = promoted
    ? 'manager'
    : roleForToken(parsed, ca.fingerprint, {
        worker: cluster.value.workerTokenHash,
        manager: cluster.value.managerTokenHash,
      });
  if (request.manager && role !== 'manager') {
    throw new FlotillaError(
      Code.PermissionDenied,
      'a manager joins with the manager token: see flotilla join-token manager',
      { reason: 'bad-token' },
    );
  }
  const nodeId = promoted ?? newId();
  const validityMs = certExpiryMs(cluster.value.settings);
  const certPem = await ca.issue({ csrPem: request.csrPem, nodeId, role, validityMs });
  // Joined during a CA rotation: it holds a certificate of the new CA already.
  if (ca.rotating) await recordRenewed(store, ca.issuerPem, nodeId);
  if (request.manager) {
    // A manager of the control plane, not a node that runs tasks: it is known by its election candidacy.
    const urls = await etcdClientUrls();
    return {
      nodeId,
      certPem,
      caCertPem: ca.certPem,
      role: NodeSpec_Role.ROLE_MANAGER,
      caKeyPem,
      etcdClientUrls: urls,
    };
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
    // Both CAs during a rotation (a manager that joins reads the rotation from etcd instead).
    caCertPem: ca.trustPem,
    role: role === 'manager' ? NodeSpec_Role.ROLE_MANAGER : NodeSpec_Role.ROLE_WORKER,
    caKeyPem: '',
    etcdClientUrls: [],
  };
}

/** The manager ID a promotion credential was made for (claimed now), if the token is one of this cluster's. */
async function promotionFor(store: Store, token: ParsedToken, fingerprint: string): Promise<string | undefined> {
  if (token.caFingerprint !== fingerprint) return undefined;
  return claimPromotion(store, token);
}

/** Errors become gRPC statuses here, at the transport edge; a refusal of cluster security leads with its reason. */
function toStatus(err: unknown): GrpcStatus {
  const sent = toGrpcStatus(err, 'internal error while issuing a certificate');
  if (err instanceof FlotillaError && isPkiReason(err.reason)) sent.details = `${err.reason}: ${err.message}`;
  return sent;
}
