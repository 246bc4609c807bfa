import { availableParallelism, hostname, totalmem } from 'node:os';
import type { NetworkView, Promotion, SessionInfo } from '@flotilla/api';
import { createLogger, Gauge, type Logger, Registry, serveHttp } from '@flotilla/observability';
import type { NodeNetwork } from '@flotilla/overlay';
import { issuedBy, StateDir } from '@flotilla/pki';
import { CertificateRenewer } from './certificate-renewer.js';
import type { Executor, TaskOutput } from './executor/executor.js';
import { chooseExecutor, type RuntimeOptions } from './executor/executor-choice.js';
import { FENCE_VERDICTS } from './fencing.js';
import { joinCluster, loadCredentials, type NodeCredentials, saveCertificate, saveCredentials } from './join.js';
import { NodeCertificates } from './node-certificates.js';
import { QuorumWatch } from './quorum-watch.js';
import { AgentSession } from './session.js';
import { type LogShipperFactory, parseRedisAddress, TaskLogs } from './task-logs.js';
import { withoutUnreachable } from './unreachable-peers.js';
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
  /**
   * The runtime tasks run in. Default: chosen by `runtime` (containerd when usable); without `runtime` either,
   * the process executor, which runs each task's command as a process.
   */
  executor?: Executor;
  /** How long the managers keep this node's tasks when the agent stops and its runtime keeps them (30 s). */
  restartWaitMs?: number;
  /** How to choose and set up the runtime when neither `executor` nor `executorFactory` is given. */
  runtime?: RuntimeOptions;
  /**
   * Makes the runtime, given where to send the tasks' output (their logs) and the state directory. Takes
   * precedence over `executor`, whose output, if any, goes wherever it was built to send it.
   */
  executorFactory?: (context: ExecutorContext) => Executor;
  /**
   * HOST:PORT of the cluster's Redis as this node reaches it, instead of the address the managers tell. The
   * password still comes from the managers, and output is shipped only while they have a Redis.
   */
  redis?: string;
  /** How to ship output to the Redis a session names; default @flotilla/events' `redisLogShipper`. */
  logShipper?: LogShipperFactory;
  /**
   * HOST:PORT of this node's PeerService, where peers ask whether it hears a leader (default 0.0.0.0 on a free
   * port; the managers learn the port from each session and tell the other nodes).
   */
  probeListen?: string;
  /**
   * The node can be promoted to a manager (`node promote`): HOST:PORT that manager would serve on, told to the
   * managers, and what starts it when the leader sends the promotion (the agent and its tasks run on meanwhile).
   */
  promotion?: { managerAddress: string; onPromotion: (promotion: Promotion) => void };
}

/** What an executor needs from the agent that makes it. */
export interface ExecutorContext {
  /** Where to send what tasks print: whole lines, shipped to the cluster's Redis (dropped while there is none). */
  output: TaskOutput;
  stateDir: string;
}

export interface RunningAgent {
  /** The node's credentials as they are now (after renewals, the new certificate). */
  readonly credentials: NodeCredentials;
  /** Renews the node's certificate over the session, at 50-80 % of its life. */
  renewer: CertificateRenewer;
  session: AgentSession;
  worker: Worker;
  /** The quorum rule on this node: its PeerService (`probePort`), its probes, its fencing verdict. */
  quorum: QuorumWatch;
  /** Where /healthz and /metrics answer. */
  httpAddress: string;
  stop(): Promise<void>;
}

/** Joins (first start) or reuses its credentials (restarts), then holds the session with the managers. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  if (options.redis) parseRedisAddress(options.redis);
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
      description: {
        hostname: options.hostname ?? hostname(),
        os: process.platform,
        architecture: process.arch,
        ...capacity(),
      },
    });
  }
  const log = options.logger ?? createLogger('agent');
  let creds = credentials;
  const certificates = new NodeCertificates(creds);
  // Before the executor, so that it can be handed the output function; a session tells where Redis is later.
  const logs = new TaskLogs({
    logger: log,
    nodeId: creds.nodeId,
    tlsIdentity: () => {
      const now = certificates.current();
      return { certPem: now.certPem, keyPem: now.keyPem, caPem: now.caCertPem };
    },
    ...(options.redis ? { redisAddress: options.redis } : {}),
    ...(options.logShipper ? { connect: options.logShipper } : {}),
  });
  const context: ExecutorContext = { output: logs.output, stateDir: options.stateDir };
  let executor = options.executorFactory?.(context) ?? options.executor;
  let network: NodeNetwork | undefined;
  // What the node tells the managers of how it runs tasks: an executor given by the caller names itself.
  let runtime = { executor: executor?.name ?? '', runtime: executor?.name ?? '', runtimeVersion: '' };
  if (!executor) {
    const chosen = await chooseExecutor(options.runtime ?? { executor: 'process' }, {
      stateDir: options.stateDir,
      nodeId: creds.nodeId,
      output: logs.output,
      warn: (message) => log.warn(message),
      logger: log,
    });
    executor = chosen.executor;
    network = chosen.network;
    runtime = { executor: executor.name, runtime: chosen.runtime, runtimeVersion: chosen.runtimeVersion };
    log.info({ executor: executor.name, runtimeVersion: chosen.runtimeVersion }, chosen.reason);
  }
  let session: AgentSession | undefined;
  let renewer: CertificateRenewer | undefined;
  const worker = new Worker({
    executor,
    report: (updates) => session?.reportStatus(updates) ?? false,
    logger: log,
    logs,
  });
  // The managers' last network view, applied without the endpoints on peers found out of reach meanwhile.
  let view: NetworkView | undefined;
  const applyView = () => {
    if (!network || !view) return;
    void network
      .apply(withoutUnreachable(view, quorum.unreachable.current(), creds.nodeId))
      .catch((err) => log.warn({ err: (err as Error).message }, 'network view not applied'));
  };
  const quorum: QuorumWatch = await QuorumWatch.start({
    certificates: creds,
    renewable: certificates,
    listen: options.probeListen ?? '0.0.0.0:0',
    session: () => session,
    worker,
    onUnreachable: () => {
      log.warn(
        { nodes: [...quorum.unreachable.current()] },
        'peers held out of reach changed: endpoints on them are left out of the network view',
      );
      applyView();
    },
    logger: log,
  });
  // The list of managers is kept, so a restarted agent can reach any of them even if the one it joined is gone.
  session = new AgentSession(creds, {
    probePort: quorum.probePort,
    // The capacity too, each session: the scheduler places reservations against it (a resized machine is seen).
    description: { ...runtime, ...capacity() },
    onManagers: (managers) => {
      creds = { ...creds, managers };
      saveCredentials(options.stateDir, creds);
    },
    onAssignments: (assignments) => worker.apply(assignments),
    onCutOff: (reason) => log.warn({ reason }, 'a manager cut this node off for too much traffic on its session'),
    ...(options.promotion
      ? { managerAddress: options.promotion.managerAddress, onPromotion: options.promotion.onPromotion }
      : {}),
    ...(network
      ? {
          onNetwork: (next: NetworkView) => {
            view = next;
            quorum.unreachable.prune(next);
            applyView();
          },
        }
      : {}),
    onSessionInfo: (info) => {
      logs.configure(info.logs);
      quorum.setVoters(info.voters);
      renewer?.clusterLife(Number(info.certExpiryMs));
      if (renewer) followCa(info, certificates, renewer, options.stateDir);
    },
  });
  const renewal = certificateRenewer(certificates, session, options.stateDir, log);
  renewer = renewal;
  certificates.onChange(({ certPem, keyPem, caCertPem }) => {
    creds = { ...creds, certPem, keyPem, caCertPem };
    session.useCertificate(certPem, keyPem, caCertPem);
  });
  renewal.start();
  session.start();
  const registry = agentMetrics(session, logs, quorum, renewal);
  const http = await serveHttp(options.httpListen ?? '127.0.0.1:0', registry, () => ({
    ok: session.state === 'connected',
    session: session.state,
    quorum: { verdict: quorum.fence.verdict, reason: quorum.fence.reason },
  }));
  log.info(
    {
      node: credentials.nodeId,
      role: credentials.role,
      http: http.address,
      probePort: quorum.probePort,
      executor: executor.name,
    },
    'agent started',
  );
  return {
    get credentials() {
      return creds;
    },
    renewer: renewal,
    session,
    httpAddress: http.address,
    worker,
    quorum,
    async stop() {
      renewal.stop();
      // First: a stopping session falls silent, and no fencing should read that as being cut off.
      await quorum.close();
      // A runtime that keeps containers running lets them run on: the next agent adopts them (live restore),
      // and the managers are told to wait for it rather than replace the tasks.
      if (executor.liveRestore) {
        worker.flush();
        await session.leave(options.restartWaitMs ?? 30_000);
        worker.detach();
      } else {
        session.stop();
        await worker.stop();
      }
      // DNS stops; bridges, VXLAN devices and rules stay for the containers that keep running.
      await network?.close();
      await executor.close?.();
      // After the worker: the last lines of the stopped tasks are in the sink's buffer by then.
      await logs.close();
      await http.close();
      log.info('agent stopped');
    },
  };
}

/**
 * A CA rotation as the session tells it: the CAs to trust (kept in ca.crt, written whole), and a renewal at once
 * when this node's certificate is not of the CA that issues now.
 */
function followCa(info: SessionInfo, certificates: NodeCertificates, renewer: CertificateRenewer, stateDir: string) {
  if (info.caTrustPem && info.caTrustPem !== certificates.current().caCertPem) {
    new StateDir(stateDir).replace('ca.crt', info.caTrustPem);
    certificates.replaceCa(info.caTrustPem);
  }
  if (info.caIssuerPem && !issuedBy(certificates.current().certPem, info.caIssuerPem)) void renewer.renewNow();
}

/** Renewal over the session; the new pair is saved (key 0600) before any connection uses it. */
function certificateRenewer(
  certificates: NodeCertificates,
  session: AgentSession,
  stateDir: string,
  log: Logger,
): CertificateRenewer {
  return new CertificateRenewer({
    certificates,
    renew: (csrPem) => session.renewCertificate(csrPem),
    save: (certPem, keyPem) => saveCertificate(stateDir, certPem, keyPem),
    // While no session is up, it waits for one: a short backoff, so a renewal follows soon after a reconnect.
    backoffMs: { first: 1_000, max: 30_000 },
    logger: log,
  });
}

function agentMetrics(
  session: AgentSession,
  logs: TaskLogs,
  quorum: QuorumWatch,
  renewer: CertificateRenewer,
): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'flotilla_agent_fence_verdict',
    help: 'The quorum rule on this node (1 for the current verdict): in-touch, carry-on (no leader, tasks run on) or cut-off',
    labelNames: ['verdict'],
    registers: [registry],
    collect() {
      for (const verdict of FENCE_VERDICTS) this.set({ verdict }, quorum.fence.verdict === verdict ? 1 : 0);
    },
  });
  for (const [name, help, read] of [
    [
      'flotilla_agent_connected',
      '1 while the agent holds a session with a manager',
      () => (session.state === 'connected' ? 1 : 0),
    ],
    ['flotilla_agent_sessions_total', 'Sessions established (reconnects included)', () => session.sessions],
    ['flotilla_agent_heartbeats_sent_total', 'Heartbeats sent', () => session.heartbeatsSent],
    ['flotilla_agent_certificate_renewals_total', "Renewals of the node's certificate", () => renewer.renewals],
    [
      'flotilla_agent_peer_probes_total',
      'Probes sent to peers while no leader was heard',
      () => quorum.prober.probesSent,
    ],
    [
      'flotilla_agent_tasks_fenced_total',
      'Tasks stopped because the node was cut off from the managers',
      () => quorum.fence.tasksFenced,
    ],
    ['flotilla_agent_log_lines_shipped_total', 'Lines of task output stored in Redis', () => logs.stats().shipped],
    [
      'flotilla_agent_log_lines_dropped_total',
      'Lines of task output lost: no Redis known yet, over the buffer while Redis was away, or refused',
      () => logs.stats().dropped,
    ],
    ['flotilla_agent_log_lines_buffered', 'Lines of task output waiting for Redis', () => logs.stats().buffered],
    [
      'flotilla_agent_log_lines_discarded_total',
      'Lines of task output not kept: their service logs with driver none',
      () => logs.stats().discarded,
    ],
    [
      'flotilla_agent_syslog_lines_sent_total',
      'Lines of task output sent to syslog servers',
      () => logs.stats().syslogSent,
    ],
    [
      'flotilla_agent_syslog_lines_dropped_total',
      'Lines of task output not sent to their syslog server: out of reach, or over its buffer',
      () => logs.stats().syslogDropped,
    ],
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

/** What this machine offers tasks, as the scheduler counts reservations: its CPUs (in nano-CPUs) and memory. */
export function capacity(): { nanoCpus: bigint; memoryBytes: bigint } {
  return { nanoCpus: BigInt(availableParallelism()) * 1_000_000_000n, memoryBytes: BigInt(totalmem()) };
}
