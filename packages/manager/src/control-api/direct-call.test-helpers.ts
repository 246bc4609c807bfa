import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Handle } from './handler.js';

/**
 * For tests that call the control API's handlers directly (on a store of their own), not through gRPC: `handle`
 * wraps each handler so its errors reach the callback as thrown, and `invoke` calls one as a promise.
 */
export const handle: Handle =
  <Req, Res>(fn: (request: Req) => Promise<Res>) =>
  (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    fn(call.request).then(
      (value) => callback(null, value),
      (err: Error) => callback(err as Parameters<sendUnaryData<Res>>[0]),
    );
  };

export function invoke<Req, Res>(
  method: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method({ request } as ServerUnaryCall<Req, Res>, (err, value) => (err ? reject(err) : resolve(value as Res))),
  );
}
