import { createHash, X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import {
  Code,
  FlotillaError,
  type JoinResponse,
  NodeCaServiceClient,
  NodeDescription,
  NodeSpec_Role,
  parseHostPort,
} from '@flotilla/api';
import { createKeyAndCsr, MANAGER_SERVER_NAME, parseJoinToken, StateDir } from '@flotilla/pki';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';

export interface NodeCredentials {
  nodeId: string;
  role: 'worker' | 'manager';
  certPem: string;
  keyPem: string;
  caCertPem: string;
  managers: string[];
}

/**
 * Joins a cluster: pins the CA named by the token (read from the manager's TLS handshake, compared by SHA-256),
 * sends a CSR for a key made here, and keeps what comes back in the state directory (the key 0600), so a
 * restarted agent rejoins without the token.
 */
export async function joinCluster(options: {
  manager: string;
  token: string;
  stateDir: string;
  description?: Partial<NodeDescription>;
  timeoutMs?: number;
  /** A manager joining the control plane: it needs a manager token and is sent the CA key (not saved here). */
  asManager?: boolean;
}): Promise<NodeCredentials & { caKeyPem?: string; etcdClientUrls?: string[] }> {
  const token = parseJoinToken(options.token);
  const caCertPem = await fetchCaCertificate(options.manager, token.caFingerprint, options.timeoutMs ?? 10_000);
  const { keyPem, csrPem } = await createKeyAndCsr();
  const client = new NodeCaServiceClient(options.manager, credentials.createSsl(Buffer.from(caCertPem)), {
    'grpc.ssl_target_name_override': MANAGER_SERVER_NAME,
  });
  let response: JoinResponse;
  try {
    response = await new Promise<JoinResponse>((resolve, reject) => {
      client.join(
        {
          token: options.token.trim(),
          csrPem,
          description: options.description ? NodeDescription.fromPartial(options.description) : undefined,
          manager: options.asManager ?? false,
        },
        new Metadata(),
        { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
        (err: ServiceError | null, value: JoinResponse) => (err ? reject(joinError(err)) : resolve(value)),
      );
    });
  } finally {
    client.close();
  }
  const creds: NodeCredentials = {
    nodeId: response.nodeId,
    role: response.role === NodeSpec_Role.ROLE_MANAGER ? 'manager' : 'worker',
    certPem: response.certPem,
    keyPem,
    caCertPem: response.caCertPem,
    managers: [options.manager],
  };
  saveCredentials(options.stateDir, creds);
  if (!response.caKeyPem) return creds;
  return { ...creds, caKeyPem: response.caKeyPem, etcdClientUrls: response.etcdClientUrls };
}

/** Each file written whole (temp file and rename), so a crash never leaves half a key or certificate. */
export function saveCredentials(stateDir: string, creds: NodeCredentials): void {
  const dir = new StateDir(stateDir);
  saveCertificate(stateDir, creds.certPem, creds.keyPem);
  dir.replace('ca.crt', creds.caCertPem);
  dir.replace('node.json', `${JSON.stringify({ nodeId: creds.nodeId, role: creds.role, managers: creds.managers })}\n`);
}

/** A renewed certificate and its key (0600), each written whole. */
export function saveCertificate(stateDir: string, certPem: string, keyPem: string): void {
  const dir = new StateDir(stateDir);
  dir.replace('node.key', keyPem, true);
  dir.replace('node.crt', certPem);
}

/** Credentials kept by an earlier join, if any. */
export function loadCredentials(stateDir: string): NodeCredentials | undefined {
  const dir = new StateDir(stateDir);
  if (!dir.has('node.key') || !dir.has('node.json')) return undefined;
  const meta = JSON.parse(dir.read('node.json')) as Pick<NodeCredentials, 'nodeId' | 'role' | 'managers'>;
  return { ...meta, keyPem: dir.read('node.key'), certPem: dir.read('node.crt'), caCertPem: dir.read('ca.crt') };
}

/**
 * The CA certificate from the chain the manager presents, accepted only if its SHA-256 is the token's: nothing
 * secret is sent before the manager has proved it holds the cluster's CA.
 */
export function fetchCaCertificate(address: string, fingerprint: string, timeoutMs: number): Promise<string> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: undefined });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new FlotillaError(Code.Unavailable, `no TLS answer from the manager at ${address} within ${timeoutMs} ms`, {
          reason: 'wrong-ca',
        }),
      );
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new FlotillaError(Code.Unavailable, `cannot reach the manager at ${address}: ${err.message}`, {
          cause: err,
          reason: 'wrong-ca',
        }),
      );
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const chain = certificateChain(socket.getPeerCertificate(true));
      socket.end();
      const ca = chain.find((der) => createHash('sha256').update(der).digest('hex') === fingerprint);
      if (!ca) {
        reject(
          new FlotillaError(
            Code.PermissionDenied,
            `the manager at ${address} does not hold the CA this token names: check the address, or get a token from this cluster`,
            { reason: 'wrong-ca' },
          ),
        );
        return;
      }
      resolve(new X509Certificate(ca).toString());
    });
  });
}

function certificateChain(leaf: PeerCertificate & { issuerCertificate?: PeerCertificate }): Buffer[] {
  const out: Buffer[] = [];
  let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = leaf;
  // A self-signed root is its own issuer: stop at a repeat.
  while (cert?.raw && !out.some((der) => der.equals(cert?.raw as Buffer))) {
    out.push(cert.raw);
    cert = cert.issuerCertificate as typeof cert;
  }
  return out;
}

function splitAddress(address: string): [string, number] {
  try {
    const { host, port } = parseHostPort(address, 'manager address');
    return [host, port];
  } catch (err) {
    throw new FlotillaError(Code.InvalidArgument, (err as Error).message, { reason: 'invalid' });
  }
}

function joinError(err: ServiceError): Error {
  return new FlotillaError(FlotillaError.from(err).code, `join refused: ${err.details}`, {
    cause: err,
    reason: err.details?.startsWith('bad-token') ? 'bad-token' : 'invalid',
  });
}
