import { type CertificateAuthority, PkiError } from '@flotilla/pki';
import { StoreError } from '@flotilla/store';
import { type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { type CallWithAuth, peerIdentity } from '../peer-identity.js';
import { ControlError } from './control-error.js';

/** Wraps a request handler: checks the caller's certificate, maps domain errors to gRPC statuses. */
export type Handle = <Req, Res>(
  fn: (request: Req) => Promise<Res>,
) => (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** The control API's wrapper for unary calls: only operator and manager certificates get through. */
export function handler(ca: CertificateAuthority): Handle {
  return <Req, Res>(fn: (request: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      Promise.resolve()
        .then(() => {
          refuseWorkers(call, ca);
          return fn(call.request);
        })
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(toStatus(err)),
        );
    };
}

/** Throws unless the caller holds a certificate of this cluster for an operator or a manager. */
export function refuseWorkers(call: CallWithAuth, ca: CertificateAuthority): void {
  if (peerIdentity(call, ca).role === 'worker') {
    throw new ControlError(status.PERMISSION_DENIED, 'workers cannot use the control API');
  }
}

/** A domain error as the gRPC status the caller sees; anything unexpected is an internal error without details. */
export function toStatus(err: unknown): { code: status; details: string } {
  if (err instanceof ControlError) return { code: err.status, details: err.message };
  if (err instanceof StoreError && err.code === 'conflict') return { code: status.ABORTED, details: err.message };
  if (err instanceof PkiError) return { code: status.PERMISSION_DENIED, details: err.message };
  if (err instanceof StoreError) {
    return { code: err.code === 'unavailable' ? status.UNAVAILABLE : status.INTERNAL, details: err.message };
  }
  return { code: status.INTERNAL, details: 'internal error' };
}
