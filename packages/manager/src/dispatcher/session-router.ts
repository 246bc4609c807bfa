import { LEADER_METADATA_KEY } from '@flotilla/agent';
import { Code, type DispatcherServiceServer, FlotillaError, toGrpcStatus } from '@flotilla/api';
import type { Dispatcher } from './dispatcher.js';

/**
 * The Dispatcher service every manager serves: while this manager leads, its dispatcher takes the session;
 * otherwise the refusal names the leader, and the agent goes there.
 */
export function sessionRouter(
  dispatcher: () => Dispatcher | undefined,
  leaderAddress: () => string | undefined,
): DispatcherServiceServer {
  return {
    session: (call) => {
      const leading = dispatcher();
      if (leading) return leading.service().session(call);
      const leader = leaderAddress();
      // Always set (empty while no leader is known): it tells the agent a manager answered.
      const refusal = toGrpcStatus(
        new FlotillaError(
          Code.Unavailable,
          leader ? `this manager does not lead: the leader is ${leader}` : 'no leader elected yet',
        ),
      );
      refusal.metadata.set(LEADER_METADATA_KEY, leader ?? '');
      call.emit('error', refusal);
    },
  };
}
