import type { PeerCertificate } from 'node:tls';
import { type ChannelCredentials, experimental, type ServerCredentials } from '@grpc/grpc-js';

/** The node's own certificate and the cluster CA's: what both ends of a probe show and trust. */
export interface PeerCertificates {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * A node's (or manager's) certificate and key as they are now: the certificate provider behind its TLS
 * credentials. Renewal calls `replace`, and every listener (each server and channel made from it) gets the new
 * pair, so new connections present the new certificate while those already open carry on.
 */
export class NodeCertificates implements experimental.CertificateProvider {
  private pair: PeerCertificates;
  /** What follows the certificate when `chainCa` (the cluster's CA, while caCertPem may hold more during a rotation). */
  private chainTail: string | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly changeListeners = new Set<(pair: PeerCertificates) => void>();

  constructor(
    pair: PeerCertificates,
    /** Present the CA certificate after the node's own (a manager's port: a joining node reads the CA there). */
    private readonly chainCa = false,
  ) {
    this.pair = { ...pair };
  }

  /** The certificates now. */
  current(): PeerCertificates {
    return { ...this.pair };
  }

  /** A renewed certificate and its key: new connections use them from now on. */
  replace(certPem: string, keyPem: string): void {
    this.pair = { ...this.pair, certPem, keyPem };
    for (const listener of this.identityListeners) listener(this.identity());
    for (const listener of this.changeListeners) listener(this.current());
  }

  /**
   * The CA certificates to trust from now on (old and new during a CA rotation, then the new one alone), and for a
   * manager's port what to present after its own certificate (the cross-signed CA during a rotation, then the
   * cluster's CA, which joining nodes pin). New connections use them.
   */
  replaceCa(caCertPem: string, chainCaPem?: string): void {
    this.pair = { ...this.pair, caCertPem };
    this.chainTail = chainCaPem;
    for (const listener of this.caListeners) listener({ caCertificate: Buffer.from(caCertPem) });
    for (const listener of this.identityListeners) listener(this.identity());
    for (const listener of this.changeListeners) listener(this.current());
  }

  /** Called with the new pair after each replace. */
  onChange(listener: (pair: PeerCertificates) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Server TLS that follows renewals; with `requireClient`, a caller without a certificate of the CA is refused. */
  serverCredentials(requireClient: boolean): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this, this, requireClient);
  }

  /** Client TLS (mutual) that follows renewals. */
  channelCredentials(verify?: {
    checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
  }): ChannelCredentials {
    return experimental.createCertificateProviderChannelCredentials(this, this, verify);
  }

  // gRPC registers its watcher only after adding the listener: the first answer comes after the call returns.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: Buffer.from(this.pair.caCertPem) });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener(this.identity());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private identity(): experimental.IdentityCertificateUpdate {
    const { certPem, caCertPem } = this.pair;
    // With a chain given (a CA rotation): the node's own certificate, then that chain, whatever else it came with.
    const head = this.chainTail === undefined ? certPem : firstCertificate(certPem);
    const tail = this.chainTail ?? caCertPem;
    const chain = this.chainCa ? `${head.trim()}\n${tail.trim()}\n` : certPem;
    return { certificate: Buffer.from(chain), privateKey: Buffer.from(this.pair.keyPem) };
  }
}

const END = '-----END CERTIFICATE-----';

function firstCertificate(pem: string): string {
  const end = pem.indexOf(END);
  return end < 0 ? pem : pem.slice(0, end + END.length);
}
