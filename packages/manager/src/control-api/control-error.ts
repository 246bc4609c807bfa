import type { status } from '@grpc/grpc-js';

/** A failure the caller can act on, with the gRPC status it maps to at the edge. */
export class ControlError extends Error {
  constructor(
    readonly status: status,
    message: string,
  ) {
    super(message);
  }
}
