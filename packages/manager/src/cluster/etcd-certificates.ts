import { isIP } from 'node:net';
import { type CertificateAuthority, createKeyAndCsr, type StateDir } from '@flotilla/pki';

/** Where an embedded member's TLS files are: its certificate and key (mode 0600), and the CA it trusts. */
export interface EtcdTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * The etcd user every manager's certificate names (its CN): etcd, with authentication on, takes a client
 * certificate's CN as the user, and only this one has a role. Node certificates are of the same CA but name
 * their node IDs (random, never this), so etcd refuses them: an agent's key opens no door to the store.
 */
export const ETCD_USER = 'root';

/**
 * A name every member's certificate carries besides its addresses: a manager's store holds one connection to
 * whichever member answers, and checks this name on it (see EtcdMembers).
 */
export const ETCD_SERVER_NAME = 'etcd.flotilla.internal';

/**
 * A certificate from the cluster CA for this manager's etcd member, for every side of it: the server clients and
 * peers dial (so it names the member's client and peer hosts), and the client it is when it dials peers, and when
 * the manager reads and writes (etcd's peers check that a peer's certificate names the address it comes from).
 * Made anew at each start, with a key that never leaves the state directory, and during a CA rotation (then by the
 * new CA, followed by the new CA cross-signed by the old, so that peers that trust only the old CA accept it). The
 * CA file holds every CA trusted now (both during a rotation). Each file is replaced whole: a running member and
 * the manager's etcd client read them again at each new connection.
 */
export async function issueEtcdCertificate(
  ca: CertificateAuthority,
  hosts: string[],
  dir: StateDir,
): Promise<EtcdTlsFiles> {
  return issueServerCertificate(ca, dir, {
    subject: ETCD_USER,
    role: 'manager',
    serverName: ETCD_SERVER_NAME,
    hosts,
    basename: 'member',
  });
}

/** Who a server certificate (etcd's member, Redis) is for, and the files it is written to. */
export interface ServerCertificate {
  /** Its CN. */
  subject: string;
  role: 'manager' | 'worker';
  /** The fixed name every client checks, besides the hosts. */
  serverName: string;
  /** Addresses and DNS names it is reached by. */
  hosts: string[];
  /** `<basename>.crt` and `<basename>.key` (mode 0600), beside `ca.crt`. */
  basename: string;
}

/**
 * A server certificate from the cluster CA with a key made here, written into `dir` with the CAs trusted now. Each
 * file is replaced whole, so a server reading them at each new connection never sees half of one.
 */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  dir: StateDir,
  cert: ServerCertificate,
): Promise<EtcdTlsFiles> {
  const unique = [...new Set(cert.hosts)];
  const keys = await createKeyAndCsr();
  const certPem = await ca.issue({
    csrPem: keys.csrPem,
    nodeId: cert.subject,
    role: cert.role,
    ipAddresses: unique.filter((h) => isIP(h) !== 0),
    dnsNames: [...unique.filter((h) => isIP(h) === 0), cert.serverName],
  });
  const [crt, key] = [`${cert.basename}.crt`, `${cert.basename}.key`];
  dir.replace('ca.crt', ca.trustPem);
  dir.replace(key, keys.keyPem, true);
  dir.replace(crt, certPem);
  return { certFile: dir.file(crt), keyFile: dir.file(key), caFile: dir.file('ca.crt') };
}
