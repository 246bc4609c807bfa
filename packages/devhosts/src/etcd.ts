import type { ProcessSpec } from './server-process.js';

export interface EtcdOptions {
  /** The member's name. */
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** Serve clients over mutual TLS: clients must present a certificate from `caFile`. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  binary: string;
}

/** A single-member etcd on loopback ports: what to run, and its client URL. */
export function etcdServer(options: EtcdOptions): { spec: ProcessSpec; url: string } {
  const { name, dataDir, clientPort, peerPort, tls } = options;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    url,
    '--advertise-client-urls',
    url,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `${name}=${peer}`,
    '--log-level',
    'error',
    '--logger',
    'zap',
  ];
  if (tls) {
    args.push('--cert-file', tls.certFile, '--key-file', tls.keyFile);
    args.push('--client-cert-auth', '--trusted-ca-file', tls.caFile);
  }
  return {
    spec: { name: 'etcd', command: options.binary, args, readyPort: clientPort, readyTimeoutMs: 30_000 },
    url,
  };
}
