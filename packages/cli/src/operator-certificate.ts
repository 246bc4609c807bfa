import { X509Certificate } from 'node:crypto';
import { type ControlServiceClient, NodeCaServiceClient } from '@flotilla/api';
import { certificateLife, createKeyAndCsr, pastHalfLife, readIdentity, type StateDir } from '@flotilla/pki';
import { credentials, Metadata } from '@grpc/grpc-js';

/** The CLI's operator certificate: its ID (what `cluster revoke-operator` takes) and when it expires. */
export function operatorCertificate(dir: StateDir): { id: string; expiresAt: string } {
  const cert = new X509Certificate(dir.read('operator.crt'));
  return { id: readIdentity(cert).nodeId, expiresAt: new Date(certificateLife(cert).notAfterMs).toISOString() };
}

/**
 * Renews the CLI's certificate once it is past half its life: a new key made here, a certificate for it asked of
 * the manager over the control client's own mutual-TLS channel (the manager keeps the operator ID and role), both
 * written whole into the configuration directory (the key 0600). Resolves whether or not it worked: a failure is
 * tried again by the next command. Undefined when there is nothing to renew.
 */
export function renewOperatorIfDue(
  client: ControlServiceClient,
  dir: StateDir,
  now = Date.now(),
): Promise<void> | undefined {
  let due: boolean;
  try {
    due = pastHalfLife(certificateLife(dir.read('operator.crt')), now);
  } catch {
    return undefined; // Unreadable here: the call itself will say what is wrong with the credentials.
  }
  if (!due) return undefined;
  return renew(client, dir).catch(() => undefined);
}

/**
 * During a CA rotation (a manager said so): renews the CLI's certificate unless it already came from the new CA
 * (followed by the cross-signed CA), and keeps the CAs the manager trusts, so the CLI still trusts the managers
 * once the old CA is dropped. Resolves whether or not it worked.
 */
export function renewOperatorForRotation(client: ControlServiceClient, dir: StateDir): Promise<void> | undefined {
  try {
    if ((dir.read('operator.crt').match(/BEGIN CERTIFICATE/g)?.length ?? 0) > 1) return undefined;
  } catch {
    return undefined;
  }
  return renew(client, dir).catch(() => undefined);
}

async function renew(client: ControlServiceClient, dir: StateDir): Promise<void> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  // The control client's channel, shared: this client is never closed (the command closes the channel).
  const channel = client.getChannel();
  const ca = new NodeCaServiceClient(channel.getTarget(), credentials.createInsecure(), { channelOverride: channel });
  const { certPem, caCertPem } = await new Promise<{ certPem: string; caCertPem: string }>((resolve, reject) =>
    ca.renew({ csrPem }, new Metadata(), { deadline: Date.now() + 4_000 }, (err, response) =>
      err ? reject(err) : resolve(response),
    ),
  );
  const before = readIdentity(new X509Certificate(dir.read('operator.crt')));
  const after = readIdentity(new X509Certificate(certPem));
  if (after.nodeId !== before.nodeId || after.role !== 'operator') return;
  dir.replace('operator.key', keyPem, true);
  dir.replace('operator.crt', certPem);
  // The CAs the managers trust now (both during a CA rotation): the CLI keeps trusting them after it.
  if (caCertPem.includes('BEGIN CERTIFICATE')) dir.replace('ca.crt', caCertPem);
}
