import { type ControlServiceClient, FlotillaError } from '@flotilla/api';
import { Metadata, type ServiceError } from '@grpc/grpc-js';

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: (err: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls one control RPC with a deadline; a refusal becomes a FlotillaError carrying the manager's message. */
export function unary<Req, Res>(client: ControlServiceClient, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, response) => {
      if (err) reject(FlotillaError.from(err));
      else resolve(response);
    });
  });
}
