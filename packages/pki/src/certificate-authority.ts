import { createHash, randomBytes, X509Certificate } from 'node:crypto';
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

/**
 * The cluster's certificate authority. A node's certificate names it (CN = node ID), its role (OU) and the
 * cluster (O); that certificate is its identity on every mutual-TLS call. The CA key is kept by the manager that
 * created the cluster, in a file only its user can read.
 */
export class CertificateAuthority {
  private revocations: RevocationList | undefined;

  private constructor(
    readonly clusterId: string,
    readonly certPem: string,
    private readonly cert: X509Certificate,
    private readonly key: CryptoKey,
  ) {}

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
      issuer: this.cert.subject.replaceAll('\n', ','),
      notBefore,
      notAfter: new Date(notBefore.getTime() + validityMs),
      signingKey: this.key,
      publicKey: csr.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names),
      ],
    });
    return cert.toString('pem');
  }

  /** The identity a certificate carries, once it is shown to be this CA's and valid now. */
  verify(certPem: string | X509Certificate, now = new Date()): NodeIdentity {
    const cert = typeof certPem === 'string' ? new X509Certificate(certPem) : certPem;
    if (!cert.checkIssued(this.cert) || !cert.verify(this.cert.publicKey)) {
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

export function caFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

function serial(): string {
  // Positive 16-byte serial numbers: the top bit cleared keeps the DER integer positive.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}
