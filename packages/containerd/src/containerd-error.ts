import { type ServiceError, status } from '@grpc/grpc-js';

export type ContainerdErrorCode =
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'invalid-argument'
  | 'unavailable'
  | 'deadline'
  | 'internal';

const CODES: Partial<Record<number, ContainerdErrorCode>> = {
  [status.NOT_FOUND]: 'not-found',
  [status.ALREADY_EXISTS]: 'already-exists',
  [status.FAILED_PRECONDITION]: 'failed-precondition',
  [status.INVALID_ARGUMENT]: 'invalid-argument',
  [status.UNAVAILABLE]: 'unavailable',
  [status.DEADLINE_EXCEEDED]: 'deadline',
};

/** A failed containerd call, with the gRPC status mapped to a code and what was being done in the message. */
export class ContainerdError extends Error {
  constructor(
    readonly code: ContainerdErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ContainerdError';
  }

  static from(err: unknown, what?: string): ContainerdError {
    if (err instanceof ContainerdError) return err;
    const e = err as Partial<ServiceError>;
    const code = (typeof e.code === 'number' && CODES[e.code]) || 'internal';
    const detail = e.details || e.message || String(err);
    const hint =
      code === 'unavailable'
        ? ' (is containerd running, and is the agent given its socket with --containerd-socket?)'
        : '';
    return new ContainerdError(code, `${what ? `${what}: ` : ''}${detail}${hint}`);
  }
}
