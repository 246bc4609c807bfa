import { existsSync } from 'node:fs';
import path from 'node:path';
import { Code, FlotillaError } from '@flotilla/api';
import { CertificateAuthority, StateDir } from '@flotilla/pki';
import { issueServerCertificate } from './etcd-certificates.js';

/**
 * The name Redis's certificate carries and every client checks, whatever address it dials (an agent may reach
 * Redis by another path than the managers). Only the cluster CA issues certificates with it, and only here.
 */
export const REDIS_SERVER_NAME = 'redis.flotilla.internal';

/** The CN of Redis's certificate: no node has it (node IDs are random), so no session is opened with it. */
const REDIS_CERT_ID = 'redis';

/** What redis.conf's tls-cert-file, tls-key-file and tls-ca-cert-file name. */
export interface RedisTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * Writes Redis's TLS files into `outDir` from the CA in a manager's state directory: a server certificate of the
 * cluster CA (for REDIS_SERVER_NAME and the given hosts) with a key made here (mode 0600), and the CAs to trust,
 * which are the CAs whose certificates nodes and managers present. Run it on a manager's host, as the user that
 * runs the manager (the CA key is readable by it alone); run it again after a CA rotation and restart Redis (or
 * CONFIG SET its tls-* files, which Redis reloads).
 */
export async function writeRedisTlsFiles(
  managerStateDir: string,
  outDir: string,
  hosts: string[],
): Promise<RedisTlsFiles> {
  // Looked at before StateDir, which would make the directory (and tighten its mode).
  if (!existsSync(path.join(managerStateDir, 'ca.key')) || !existsSync(path.join(managerStateDir, 'ca.crt'))) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${managerStateDir} holds no cluster CA: give the state directory of a manager that has started (--state-dir)`,
    );
  }
  const state = new StateDir(managerStateDir);
  const ca = await CertificateAuthority.load(state.read('ca.crt'), state.read('ca.key'));
  return issueRedisCertificate(ca, hosts, new StateDir(outDir));
}

/** A server certificate for Redis from this CA, written with its key and the trusted CAs into `dir`. */
export async function issueRedisCertificate(
  ca: CertificateAuthority,
  hosts: string[],
  dir: StateDir,
): Promise<RedisTlsFiles> {
  return issueServerCertificate(ca, dir, {
    subject: REDIS_CERT_ID,
    role: 'worker',
    serverName: REDIS_SERVER_NAME,
    hosts,
    basename: 'redis',
  });
}
