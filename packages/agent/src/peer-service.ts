import { X509Certificate } from 'node:crypto';
import { PeerServiceClient, type PeerServiceServer, PeerServiceService, probeResponse } from '@flotilla/api';
import { readIdentity } from '@flotilla/pki';
import { Metadata, Server, status } from '@grpc/grpc-js';
import { NodeCertificates, type PeerCertificates } from './node-certificates.js';

export type { PeerCertificates } from './node-certificates.js';

export interface PeerServer {
  /** The port it listens on (the one asked for, or the one the system gave for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Fixed certificates, or the node's renewable ones (renewals then reach new connections). */
function renewable(certificates: PeerCertificates | NodeCertificates): NodeCertificates {
  return certificates instanceof NodeCertificates ? certificates : new NodeCertificates(certificates);
}

/**
 * The node's PeerService: tells a peer that probes it whether this node hears a leader. Mutual TLS with the
 * node's certificate (the one it holds when a connection opens); a caller must show a certificate of the cluster
 * CA, or the handshake fails, and be one of the voters `admits` (a removed node, whose certificate is revoked, is
 * no longer one: nodes hold no revocation list, but they hold the voters).
 */
export async function servePeers(
  listen: string,
  certificates: PeerCertificates | NodeCertificates,
  answer: () => ProbeAnswer,
  admits: (nodeId: string) => boolean = () => true,
): Promise<PeerServer> {
  const server = new Server();
  const service: PeerServiceServer = {
    probe: (call, callback) => {
      const raw = call.getAuthContext().sslPeerCertificate?.raw;
      const caller = raw ? readIdentity(new X509Certificate(raw)).nodeId : undefined;
      if (caller === undefined || !admits(caller)) {
        callback({ code: status.PERMISSION_DENIED, details: 'not a voter of this cluster (removed, or revoked)' });
        return;
      }
      callback(null, probeResponse(answer()));
    },
  };
  server.addService(PeerServiceService, service);
  const tls = renewable(certificates).serverCredentials(true);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, tls, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // A probe lasts a few hundred milliseconds at most: wait that long, then cut what is left.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

const PEER_SERVER_NAME = 'flotilla-peer';

/**
 * What a peer answered: whether it hears a leader, how long since it last heard one, and how long it has heard
 * the one it hears now without a break (0: none, or a peer that does not say).
 */
export interface ProbeAnswer {
  hearsLeader: boolean;
  silentMs: number;
  leaderHeardForMs: number;
}

/**
 * Asks the peer at an address whether it hears a leader; rejects when it does not answer within the deadline, or
 * when the certificate it shows is not voter `peerId`'s.
 */
export type ProbeCall = (address: string, deadlineMs: number, peerId: string) => Promise<ProbeAnswer>;

/**
 * Probes peers with the node's certificate. A peer must show a certificate of the cluster CA issued to the voter
 * dialled (its node ID as the subject's CN): an address taken over by another node of the cluster does not answer
 * for the voter that had it. One channel per address is kept (and closed by `forget` or `close`), so that a round
 * of probes does not pay for a TLS handshake each.
 */
export class PeerCaller {
  private readonly clients = new Map<string, { client: PeerServiceClient; peerId: string }>();
  private readonly certificates: NodeCertificates;

  constructor(certificates: PeerCertificates | NodeCertificates) {
    // New connections present the node's certificate as it is then (after a renewal, the new one).
    this.certificates = renewable(certificates);
  }

  readonly call: ProbeCall = (address, deadlineMs, peerId) => {
    const client = this.client(address, peerId);
    return new Promise<ProbeAnswer>((resolve, reject) =>
      client.probe({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, response) =>
        err
          ? reject(err)
          : resolve({
              hearsLeader: response.hearsLeader,
              silentMs: Number(response.silentMs),
              leaderHeardForMs: Number(response.leaderHeardForMs),
            }),
      ),
    );
  };

  /** Closes the channels to every address but these (the voters that remain). */
  forget(keep: ReadonlySet<string> = new Set()): void {
    for (const [address, { client }] of this.clients) {
      if (keep.has(address)) continue;
      client.close();
      this.clients.delete(address);
    }
  }

  close(): void {
    this.forget();
  }

  private client(address: string, peerId: string): PeerServiceClient {
    const known = this.clients.get(address);
    if (known?.peerId === peerId) return known.client;
    known?.client.close();
    // The chain is checked against the cluster CA (and only it), the name against the voter's node ID.
    const tls = this.certificates.channelCredentials({
      checkServerIdentity: (_host, cert) =>
        cert.subject?.CN === peerId ? undefined : new Error(`the peer at ${address} is not node ${peerId}`),
    });
    const client = new PeerServiceClient(address, tls, {
      // A peer that comes back must be seen within a probe round or two, not after gRPC's long backoff.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.client_idle_timeout_ms': 10_000,
      // Any name will do (it is not checked); a fixed one keeps an IP address out of the TLS server name.
      'grpc.ssl_target_name_override': PEER_SERVER_NAME,
    });
    this.clients.set(address, { client, peerId });
    return client;
  }
}
