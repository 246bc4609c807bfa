import { Code, FlotillaError } from '@flotilla/api';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';

/**
 * Hands each message of a server stream to `onData` until the stream ends. Ctrl-C (or SIGTERM) cancels it and
 * ends cleanly, as the end of a follow should; any other error rejects as a FlotillaError.
 */
export function followStream<T>(call: ClientReadableStream<T>, onData: (message: T) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let interrupted = false;
    const interrupt = () => {
      interrupted = true;
      call.cancel();
    };
    let finished = false;
    const done = (err?: ServiceError) => {
      if (finished) return;
      finished = true;
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      const failure = err && FlotillaError.from(err);
      if (!failure || (interrupted && failure.code === Code.Canceled)) resolve();
      else reject(failure);
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    call.on('data', onData);
    call.on('error', (err: ServiceError) => done(err));
    call.on('end', () => done());
  });
}
