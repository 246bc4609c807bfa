import { Code, FlotillaError, toGrpcStatus } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import { Metadata, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { type CallWithAuth, peerIdentity } from '../peer-identity.js';

/** Wraps a request handler: checks the caller's certificate, maps domain errors to gRPC statuses. */
export type Handle = <Req, Res>(
  fn: (request: Req) => Promise<Res>,
) => (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/**
 * The control API's wrapper for unary calls: only operator and manager certificates get through. An error that is
 * not a FlotillaError is a bug: the caller gets "internal error" (no stack or paths), the manager's log the whole of it.
 */
export function handler(ca: CertificateAuthority, logger?: Logger): Handle {
  return <Req, Res>(fn: (request: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      Promise.resolve()
        .then(() => {
          refuseWorkers(call, ca);
          return fn(call.request);
        })
        .then(
          (response) => callback(null, response, rotationTrailer(ca)),
          (err: unknown) => {
            if (!(err instanceof FlotillaError)) logger?.error({ err, method: call.getPath() }, 'control call failed');
            callback(toGrpcStatus(err));
          },
        );
    };
}

/** Throws unless the caller holds a certificate of this cluster for an operator or a manager. */
export function refuseWorkers(call: CallWithAuth, ca: CertificateAuthority): void {
  if (peerIdentity(call, ca).role === 'worker') {
    throw new FlotillaError(Code.PermissionDenied, 'workers cannot use the control API');
  }
}

/** Trailing metadata that tells the CLI a CA rotation is under way (it then renews its certificate). */
export const CA_ROTATING_METADATA_KEY = 'flotilla-ca-rotating';

function rotationTrailer(ca: CertificateAuthority): Metadata | undefined {
  if (!ca.rotating) return undefined;
  const trailer = new Metadata();
  trailer.set(CA_ROTATING_METADATA_KEY, '1');
  return trailer;
}
