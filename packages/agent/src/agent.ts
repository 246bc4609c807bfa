import { hostname } from 'node:os';
import { joinCluster, loadCredentials, type NodeCredentials } from './join.js';
import { AgentSession } from './session.js';

export interface AgentOptions {
  stateDir: string;
  /** Needed only the first time: afterwards the credentials in the state directory are used. */
  join?: { manager: string; token: string };
}

export interface RunningAgent {
  credentials: NodeCredentials;
  session: AgentSession;
  stop(): void;
}

/** Joins (first start) or reuses its credentials (restarts), then holds the session with the managers. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  let credentials = loadCredentials(options.stateDir);
  if (!credentials) {
    if (!options.join) {
      throw new Error(
        `no credentials in ${options.stateDir}: start with --join HOST:PORT --token TOKEN the first time`,
      );
    }
    credentials = await joinCluster({
      ...options.join,
      stateDir: options.stateDir,
      description: { hostname: hostname(), os: process.platform, architecture: process.arch },
    });
  }
  const session = new AgentSession(credentials);
  session.start();
  return { credentials, session, stop: () => session.stop() };
}
