import type { Voter } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { disconnectPolicy, hearsNoLeader, NodeFence } from './fencing.js';
import type { NodeCertificates } from './node-certificates.js';
import { PeerProber } from './peer-prober.js';
import { PeerCaller, type PeerCertificates, type PeerServer, servePeers } from './peer-service.js';
import { UnreachablePeers } from './unreachable-peers.js';
import type { Worker } from './worker.js';

/** What the quorum watch reads of the session with the managers. */
export interface SessionView {
  state: string;
  silentForMs(): number;
  hearsLeader(): boolean;
  leaderHeardForMs(): number;
  /** Tries the managers now rather than after the backoff (a peer hears a leader). */
  reconnectNow(): void;
  readonly selfFenceTimeoutMs: number;
  readonly heartbeatPeriodMs: number;
}

export interface QuorumWatchOptions {
  certificates: PeerCertificates & { nodeId: string };
  /** The node's renewable certificates: the PeerService and probes follow renewals (default: `certificates`, fixed). */
  renewable?: NodeCertificates;
  /** HOST:PORT for the PeerService (port 0: any free port). */
  listen: string;
  /** The session, once there is one (the PeerService is up before it, to tell the managers its port). */
  session: () => SessionView | undefined;
  worker: Pick<Worker, 'disconnectPolicies' | 'fence'>;
  /** Called when the peers held unreachable change (see `unreachable`). */
  onUnreachable?: () => void;
  logger?: Logger;
}

/**
 * The node's side of the quorum rule: answers peers' probes, probes the voters while it hears no leader, and
 * past the self-fence timeout stops the tasks the rule says to stop (see fencing.ts).
 */
export class QuorumWatch {
  readonly fence: NodeFence;
  readonly prober: PeerProber;
  /** Nodes found out of reach by the probes: their endpoints are left out of the network view meanwhile. */
  readonly unreachable: UnreachablePeers;

  private constructor(
    private readonly server: PeerServer,
    private readonly caller: PeerCaller,
    options: QuorumWatchOptions,
  ) {
    const { session, worker } = options;
    this.unreachable = new UnreachablePeers({ call: caller.call, onChange: () => options.onUnreachable?.() });
    this.prober = new PeerProber({
      selfId: options.certificates.nodeId,
      call: caller.call,
      active: () => {
        const s = session();
        if (!s || s.state === 'stopped') return false;
        return hearsNoLeader({
          connected: s.state === 'connected',
          silentForMs: s.silentForMs(),
          heartbeatPeriodMs: s.heartbeatPeriodMs,
          selfFenceTimeoutMs: s.selfFenceTimeoutMs,
        });
      },
      release: (keep) => caller.forget(keep),
      onLeaderHeard: () => session()?.reconnectNow(),
      onAnswer: (voter, reachable) => this.unreachable.answered(voter, reachable),
    });
    this.fence = new NodeFence({
      silence: () => {
        const s = session();
        // A stopped session is not a silent one: the agent is leaving, and nothing is fenced (as before the rule).
        if (!s || s.state === 'stopped') return { silentForMs: 0, selfFenceTimeoutMs: 0 };
        return { silentForMs: s.silentForMs(), selfFenceTimeoutMs: s.selfFenceTimeoutMs };
      },
      quorum: () => {
        const s = session();
        const own = s ? { silentForMs: s.silentForMs(), periodMs: s.heartbeatPeriodMs } : undefined;
        return {
          voters: this.prober.voterCount(),
          probes: this.prober.fresh(own),
          managersAnswering: this.prober.managersAnswering(),
        };
      },
      tasks: () => worker.disconnectPolicies().map((t) => ({ id: t.id, disconnect: disconnectPolicy(t.disconnect) })),
      stop: (ids) => worker.fence(ids),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  static async start(options: QuorumWatchOptions): Promise<QuorumWatch> {
    const certificates = options.renewable ?? options.certificates;
    let watch: QuorumWatch | undefined;
    const server = await servePeers(
      options.listen,
      certificates,
      () => {
        const s = options.session();
        return {
          hearsLeader: s?.hearsLeader() ?? false,
          silentMs: s?.silentForMs() ?? 0,
          leaderHeardForMs: s?.leaderHeardForMs() ?? 0,
        };
      },
      (id) => watch?.prober.isVoter(id) ?? true,
    );
    watch = new QuorumWatch(server, new PeerCaller(certificates), options);
    watch.prober.start();
    watch.fence.start();
    return watch;
  }

  /** The port the PeerService listens on. */
  get probePort(): number {
    return this.server.port;
  }

  /** The voters each session names (every node and manager of the cluster). */
  setVoters(voters: readonly Voter[]): void {
    this.prober.setVoters(voters);
  }

  async close(): Promise<void> {
    this.fence.stop();
    this.prober.stop();
    this.unreachable.stop();
    this.caller.close();
    await this.server.close();
  }
}
