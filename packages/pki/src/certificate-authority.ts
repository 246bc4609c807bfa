import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';
import type * as X509 from '@peculiar/x509';
import { ALGORITHM, type CryptoKey, generateKeys, importPrivateKey, loadX509, privateKeyPem } from './crypto.js';
import { type NodeIdentity, type NodeRole, readIdentity } from './node-identity.js';
import type { RevocationList } from './revocation-list.js';

const DAY = 24 * 60 * 60 * 1000;
/** Node certificates live 90 days, as swarm's do; agents renew them well before. */
export const NODE_CERT_VALIDITY_MS = 90 * DAY;
export const CA_VALIDITY_MS = 20 * 365 * DAY;
/**
 * The TLS server name every manager certificate carries, and that agents and the CLI ask for: what makes a
 * server a manager is a certificate of this name from the cluster CA, not the address it was dialled at (which
 * also keeps TLS from sending an IP address as the server name).
 */
export const MANAGER_SERVER_NAME = 'flotilla-manager';

export interface IssueRequest {
  /** PEM PKCS#10 request made by the node with its own key: the key never leaves the node. */
  csrPem: string;
  nodeId: string;
  role: NodeRole;
  /** Extra names a peer may dial this node by (managers: their advertised host names and addresses). */
  dnsNames?: string[];
  ipAddresses?: string[];
  validityMs?: number;
  /** For tests: when the certificate starts to be valid. */
  notBefore?: Date;
}

/** A CA certificate and its key: what signs. */
interface Signer {
  certPem: string;
  cert: X509Certificate;
  key: CryptoKey;
}

/**
 * The cluster's certificate authority. A node's certificate names it (CN = node ID), its role (OU) and the
 * cluster (O); that certificate is its identity on every mutual-TLS call. The CA key is kept by the manager that
 * created the cluster, in a file only its user can read.
 *
 * During a CA rotation (`cluster ca --rotate`) it holds two CAs: it issues with the new one (each certificate
 * followed by the new CA cross-signed by the old, so a peer that trusts only the old root accepts it) and accepts
 * certificates of either; at the end, only the new one.
 */
export class CertificateAuthority {
  private revocations: RevocationList | undefined;
  /** The CA the Cluster object names (the old one during a rotation). */
  private root: Signer;
  /** The CA that signs (the new one during a rotation). */
  private signer: Signer;
  /** Certificates accepted when issued by these. */
  private trusted: Signer[];
  /** Sent after each certificate issued (the cross-signed new CA during a rotation). */
  private chainPem = '';

  private constructor(
    readonly clusterId: string,
    certPem: string,
    cert: X509Certificate,
    key: CryptoKey,
  ) {
    this.root = { certPem, cert, key };
    this.signer = this.root;
    this.trusted = [this.root];
  }

  /** The cluster's CA certificate (PEM): the old one until a rotation ends. */
  get certPem(): string {
    return this.root.certPem;
  }

  /** Every CA certificate a peer's certificate may be issued by now (PEM, one after the other). */
  get trustPem(): string {
    return this.trusted
      .map((s) => s.certPem.trim())
      .join('\n')
      .concat('\n');
  }

  /** The CA certificate new certificates are issued by (the new one during a rotation). */
  get issuerPem(): string {
    return this.signer.certPem;
  }

  /** The cross-signed new CA during a rotation, else empty: what follows each issued certificate. */
  get intermediatePem(): string {
    return this.chainPem;
  }

  get rotating(): boolean {
    return this.signer !== this.root;
  }

  /**
   * A new CA's certificate signed by this one: the new CA's subject (the same name, which keeps it a self-issued
   * link that path length limits do not count) and key, so a chain leaf → cross-signed → this CA verifies.
   */
  async crossSign(next: CertificateAuthority): Promise<string> {
    const x509 = await loadX509();
    const spki = next.root.cert.publicKey.export({ type: 'spki', format: 'der' });
    const publicKey = await webcrypto.subtle.importKey('spki', spki, ALGORITHM, true, ['verify']);
    const notAfter = Math.min(Date.parse(next.root.cert.validTo), Date.parse(this.root.cert.validTo));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: next.root.cert.subject.replaceAll('\n', ','),
      issuer: this.root.cert.subject.replaceAll('\n', ','),
      notBefore: new Date(Date.parse(next.root.cert.validFrom)),
      notAfter: new Date(notAfter),
      signingKey: this.root.key,
      publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await authorityKeyId(this.root.cert),
      ],
    });
    return cert.toString('pem');
  }

  /**
   * From now on issues with `next` (each certificate followed by `crossSignedPem`) and accepts certificates of this
   * CA and of `next`.
   */
  beginRotation(next: CertificateAuthority, crossSignedPem: string): void {
    if (next.clusterId !== this.clusterId)
      throw new FlotillaError(Code.InvalidArgument, 'the new CA belongs to another cluster', { reason: 'invalid' });
    this.signer = next.root;
    this.trusted = [this.root, next.root];
    this.chainPem = crossSignedPem;
  }

  /** The rotation is over: only the new CA issues and is trusted; certificates of the old one are refused. */
  finishRotation(): void {
    this.root = this.signer;
    this.trusted = [this.signer];
    this.chainPem = '';
  }

  /** A new CA; every CA of a cluster has the same name (a rotation's cross-signed link stays self-issued). */
  static async create(clusterId: string): Promise<{ ca: CertificateAuthority; keyPem: string }> {
    const x509 = await loadX509();
    const keys = await generateKeys();
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=flotilla-ca,O=${clusterId}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + CA_VALIDITY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const certPem = cert.toString('pem');
    const keyPem = await privateKeyPem(keys.privateKey);
    return { ca: new CertificateAuthority(clusterId, certPem, new X509Certificate(certPem), keys.privateKey), keyPem };
  }

  static async load(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    const cert = new X509Certificate(certPem);
    const clusterId = /(?:^|\n)O=([^\n]+)/.exec(cert.subject)?.[1];
    if (!clusterId || !cert.ca)
      throw new FlotillaError(Code.InvalidArgument, 'the CA certificate is not a Flotilla cluster CA', {
        reason: 'invalid',
      });
    return new CertificateAuthority(clusterId, certPem, cert, await importPrivateKey(keyPem));
  }

  /** SHA-256 of the CA certificate (DER), in hex: what join tokens carry so a joining node can pin the CA. */
  get fingerprint(): string {
    return caFingerprint(this.certPem);
  }

  /** From now on, verify() refuses the certificates this list revokes (a manager keeps it as etcd has it). */
  useRevocations(list: RevocationList): void {
    this.revocations = list;
  }

  async issue(request: IssueRequest): Promise<string> {
    const x509 = await loadX509();
    let csr: X509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    } catch (err) {
      throw new FlotillaError(Code.InvalidArgument, 'the certificate request does not parse as PEM PKCS#10', {
        cause: err,
        reason: 'bad-csr',
      });
    }
    if (!(await csr.verify()))
      throw new FlotillaError(Code.InvalidArgument, 'the certificate request is not signed by its own key', {
        reason: 'bad-csr',
      });
    if (!/^[a-z0-9]{1,64}$/.test(request.nodeId))
      throw new FlotillaError(Code.InvalidArgument, `invalid node id ${request.nodeId}`, { reason: 'invalid' });
    const validityMs = request.validityMs ?? NODE_CERT_VALIDITY_MS;
    // Backdated for peers whose clocks are a little behind: a minute, or a twentieth of a short life (a one-minute
    // certificate must not be born half expired).
    const notBefore = request.notBefore ?? new Date(Date.now() - Math.min(60_000, Math.floor(validityMs / 20)));
    const names = [
      { type: 'dns' as const, value: request.nodeId },
      ...(request.role === 'manager' ? [{ type: 'dns' as const, value: MANAGER_SERVER_NAME }] : []),
      ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      // The subject comes from the cluster, never from the request: a node cannot choose who it is.
      subject: `CN=${request.nodeId},OU=flotilla-${request.role},O=${this.clusterId}`,
      issuer: this.signer.cert.subject.replaceAll('\n', ','),
      notBefore,
      notAfter: new Date(notBefore.getTime() + validityMs),
      signingKey: this.signer.key,
      publicKey: csr.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names),
        // Which CA key signed it: two CAs of one cluster share a name during a rotation.
        await authorityKeyId(this.signer.cert),
      ],
    });
    return this.chainPem ? `${cert.toString('pem').trim()}\n${this.chainPem.trim()}\n` : cert.toString('pem');
  }

  /** The identity a certificate carries, once it is shown to be this CA's and valid now. */
  verify(certPem: string | X509Certificate, now = new Date()): NodeIdentity {
    const cert = typeof certPem === 'string' ? new X509Certificate(certPem) : certPem;
    if (!this.trusted.some((ca) => issuedBy(cert, ca.cert))) {
      throw new FlotillaError(Code.PermissionDenied, "the certificate was not issued by this cluster's CA", {
        reason: 'untrusted',
      });
    }
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
      throw new FlotillaError(
        Code.PermissionDenied,
        `the certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})`,
        { reason: 'untrusted' },
      );
    }
    const identity = readIdentity(cert);
    if (identity.clusterId !== this.clusterId) {
      throw new FlotillaError(
        Code.PermissionDenied,
        `the certificate belongs to cluster ${identity.clusterId}, not this one`,
        { reason: 'untrusted' },
      );
    }
    if (this.revocations?.covering(identity, Date.parse(cert.validFrom), now.getTime())) {
      throw new FlotillaError(
        Code.PermissionDenied,
        `the certificate of ${identity.role} ${identity.nodeId} was revoked: it must join the cluster again`,
        { reason: 'revoked' },
      );
    }
    return identity;
  }
}

/** Whether a certificate was signed by this CA's key (PEM: the first certificate of a chain is the one checked). */
export function issuedBy(cert: string | X509Certificate, ca: string | X509Certificate): boolean {
  const leaf = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const issuer = typeof ca === 'string' ? new X509Certificate(ca) : ca;
  return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
}

async function authorityKeyId(ca: X509Certificate): Promise<X509.AuthorityKeyIdentifierExtension> {
  const x509 = await loadX509();
  const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const key = await webcrypto.subtle.importKey('spki', spki, ALGORITHM, true, ['verify']);
  return x509.AuthorityKeyIdentifierExtension.create(key as unknown as X509.PublicKeyType);
}

export function caFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

function serial(): string {
  // Positive 16-byte serial numbers: the top bit cleared keeps the DER integer positive.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}
