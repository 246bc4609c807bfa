import type { EtcdOptions } from '@flotilla/store';

/**
 * What is unsafe in how this manager reaches etcd, each with what to do: plaintext endpoints, or TLS without a
 * client certificate. Whoever reaches such an etcd can read the cluster's state and replace what it holds (the
 * manager join token's hash, so joining as a manager, which is sent the CA key). Said at start and by
 * `cluster inspect`; empty when the manager shows a client certificate over TLS.
 */
export function etcdWarnings(options: Pick<EtcdOptions, 'endpoints' | 'tls'>): string[] {
  const plain = options.endpoints.filter((e) => !e.toLowerCase().startsWith('https://'));
  if (plain.length > 0) {
    return [
      `etcd is reached in plaintext (${plain.join(', ')}): anyone who reaches it can read the cluster and take it over; give the managers https:// endpoints with --etcd-cacert, --etcd-cert and --etcd-key, and turn on client certificate authentication in etcd`,
    ];
  }
  if (!options.tls?.certFile) {
    return [
      'etcd is reached over TLS without a client certificate: if etcd does not require one, anyone who reaches it can take the cluster over; give the managers --etcd-cert and --etcd-key, and turn on client certificate authentication in etcd',
    ];
  }
  return [];
}
