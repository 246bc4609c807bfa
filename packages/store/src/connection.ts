import { readFileSync } from 'node:fs';
import { ExponentialBackoff, noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { TlsFileCredentials, type TlsFiles } from './tls-files.js';

export interface EtcdOptions {
  /** Client URLs of the etcd members, e.g. http://127.0.0.1:2379. */
  endpoints: string[];
  /** Read at each new connection: files replaced on disk are used from the next connection on. */
  tls?: TlsFiles;
  auth?: { username: string; password: string };
  /** Deadline of each unary call; a call that takes longer fails as unavailable. */
  callTimeoutMs?: number;
  dialTimeoutMs?: number;
}

/**
 * An etcd client that fails fast: no hidden retries or circuit breakers in the client (the control loops back
 * off and retry on their own terms), a deadline on every unary call, and watches that reconnect with backoff.
 */
export function connectEtcd(options: EtcdOptions): Etcd3 {
  const timeout = options.callTimeoutMs ?? 5_000;
  const followed = options.tls ? new TlsFileCredentials(options.tls).channelOptions() : {};
  return new Etcd3({
    hosts: options.endpoints,
    dialTimeout: options.dialTimeoutMs ?? 3_000,
    ...(options.tls
      ? {
          credentials: {
            rootCertificate: readFileSync(options.tls.caFile),
            ...(options.tls.keyFile ? { privateKey: readFileSync(options.tls.keyFile) } : {}),
            ...(options.tls.certFile ? { certChain: readFileSync(options.tls.certFile) } : {}),
          },
        }
      : {}),
    ...(options.auth ? { auth: options.auth } : {}),
    // Reconnect within a second of etcd coming back; gRPC's default backoff grows to two minutes.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000, ...followed },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      host: () => noop,
      global: noop,
      // Watches reconnect quickly: a loop that falls behind must not wait out a long backoff.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }).next(),
    },
  });
}
