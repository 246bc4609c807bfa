import { readFileSync } from 'node:fs';
import { Code, FlotillaError } from '@flotilla/api';
import { ExponentialBackoff, noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import type { EtcdMembers } from './etcd-members.js';
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
  /**
   * The members of one etcd cluster, in the order to try them (instead of `endpoints`): the client keeps one
   * connection, to the first member that answers, and moves to the next when it fails. Needs `serverName`.
   */
  members?: EtcdMembers;
  /** A name every member's server certificate carries (it is checked instead of each member's address). */
  serverName?: string;
}

/**
 * gRPC keepalive on a connection to a member of `members`: a member that hangs with its connection open (a
 * stopped process, a hung disk) is let go within 15 s and the next one tried. Not more often: etcd sends a
 * client that pings more than every 5 s away.
 */
const MEMBER_KEEPALIVE = { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 };

/**
 * An etcd client that fails fast: no hidden retries or circuit breakers in the client (the control loops back
 * off and retry on their own terms), a deadline on every unary call, and watches that reconnect with backoff.
 */
export function connectEtcd(options: EtcdOptions): Etcd3 {
  const timeout = options.callTimeoutMs ?? 5_000;
  const followed = options.tls ? new TlsFileCredentials(options.tls).channelOptions() : {};
  const { members, serverName } = options;
  if (members && !serverName) {
    throw new FlotillaError(Code.InvalidArgument, 'an etcd member list needs the name its certificates carry');
  }
  return new Etcd3({
    hosts: members ? [members.target] : options.endpoints,
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
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      ...(members && serverName ? { 'grpc.ssl_target_name_override': serverName, ...MEMBER_KEEPALIVE } : {}),
      ...followed,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      host: () => noop,
      global: noop,
      // Watches reconnect quickly: a loop that falls behind must not wait out a long backoff.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }).next(),
    },
  });
}
