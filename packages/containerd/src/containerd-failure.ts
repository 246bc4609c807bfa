import { Code, FlotillaError } from '@flotilla/api';

/**
 * A failed containerd call as a FlotillaError: the gRPC status mapped to its code (FlotillaError.from), and the
 * message led by what was being done. An unreachable containerd says how the agent finds it.
 */
export function containerdFailure(err: unknown, what?: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const mapped = FlotillaError.from(err, Code.Internal);
  const hint =
    mapped.code === Code.Unavailable
      ? ' (is containerd running, and is the agent given its socket with --containerd-socket?)'
      : '';
  return new FlotillaError(mapped.code, `${what ? `${what}: ` : ''}${mapped.message}${hint}`, { cause: err });
}
