import { hostname } from 'node:os';
import { createLogger, Gauge, type Logger, Registry, serveHttp } from '@flotilla/observability';
import type { Executor } from './executor/executor.js';
import { ProcessExecutor } from './executor/process-executor.js';
import { joinCluster, loadCredentials, type NodeCredentials, saveCredentials } from './join.js';
import { AgentSession } from './session.js';
import { Worker } from './worker.js';

export interface AgentOptions {
  stateDir: string;
  /** HOST:PORT for /healthz and /metrics (default 127.0.0.1 on a free port). */
  httpListen?: string;
  logger?: Logger;
  /** Needed only the first time: afterwards the credentials in the state directory are used. */
  join?: { manager: string; token: string };
  /** The node's name in the cluster (default: this host's name); used on first join. */
  hostname?: string;
  /** The runtime tasks run in (default: the process executor, which runs each task's command as a process). */
  executor?: Executor;
}

export interface RunningAgent {
  credentials: NodeCredentials;
  session: AgentSession;
  worker: Worker;
  /** Where /healthz and /metrics answer. */
  httpAddress: string;
  stop(): Promise<void>;
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
      description: { hostname: options.hostname ?? hostname(), os: process.platform, architecture: process.arch },
    });
  }
  const log = options.logger ?? createLogger('agent');
  const creds = credentials;
  const executor = options.executor ?? new ProcessExecutor();
  let session: AgentSession | undefined;
  const worker = new Worker({ executor, report: (updates) => session?.reportStatus(updates) ?? false });
  // The list of managers is kept, so a restarted agent can reach any of them even if the one it joined is gone.
  session = new AgentSession(creds, {
    onManagers: (managers) => saveCredentials(options.stateDir, { ...creds, managers }),
    onAssignments: (assignments) => worker.apply(assignments),
    onFence: () => {
      log.warn('no manager heard from within the self-fence timeout: stopping every task');
      worker.fence();
    },
  });
  session.start();
  const registry = agentMetrics(session);
  const http = await serveHttp(options.httpListen ?? '127.0.0.1:0', registry, () => ({
    ok: session.state === 'connected',
    session: session.state,
  }));
  log.info(
    { node: credentials.nodeId, role: credentials.role, http: http.address, executor: executor.name },
    'agent started',
  );
  return {
    credentials,
    session,
    httpAddress: http.address,
    worker,
    async stop() {
      session.stop();
      await worker.stop();
      await http.close();
      log.info('agent stopped');
    },
  };
}

function agentMetrics(session: AgentSession): Registry {
  const registry = new Registry();
  for (const [name, help, read] of [
    [
      'flotilla_agent_connected',
      '1 while the agent holds a session with a manager',
      () => (session.state === 'connected' ? 1 : 0),
    ],
    ['flotilla_agent_sessions_total', 'Sessions established (reconnects included)', () => session.sessions],
    ['flotilla_agent_heartbeats_sent_total', 'Heartbeats sent', () => session.heartbeatsSent],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
  return registry;
}
