import type { X509Certificate } from 'node:crypto';
import { Code, FlotillaError } from '@flotilla/api';

export type NodeRole = 'worker' | 'manager' | 'operator';

/** Who is on the other end of a mutual-TLS call, read from its certificate. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
}

/** Reads CN (node ID), OU (flotilla-<role>) and O (cluster ID) from a certificate's subject. */
export function readIdentity(cert: X509Certificate): NodeIdentity {
  const fields = new Map<string, string>();
  for (const line of cert.subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const nodeId = fields.get('CN');
  const role = fields.get('OU')?.replace(/^flotilla-/, '');
  const clusterId = fields.get('O');
  if (!nodeId || !clusterId || (role !== 'worker' && role !== 'manager' && role !== 'operator')) {
    throw new FlotillaError(
      Code.PermissionDenied,
      `the certificate does not name a Flotilla node (subject ${cert.subject})`,
      { reason: 'untrusted' },
    );
  }
  return { nodeId, role, clusterId };
}
