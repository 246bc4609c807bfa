import { Code, FlotillaError } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { Election, type Leadership, type Store } from '@flotilla/store';
import type { Etcd3 } from 'etcd3';

/** A manager as its election candidacy shows it. */
export interface ManagerInfo {
  id: string;
  address: string;
}

/** What runs while this manager leads; stopped when leadership ends. */
export interface Term {
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  self: ManagerInfo;
  /** Lease TTL: how long a crashed leader keeps leadership before another manager takes over. */
  ttlSeconds: number;
  /** How often the list of managers is read again. */
  refreshMs?: number;
  log: Logger;
  /** Starts the leader's work with a store whose every write is fenced by this leadership. */
  lead(fenced: Store): Promise<Term>;
}

/**
 * The managers as a group: every manager is a candidate in one election (its key, under a lease, carries its ID
 * and address, so the candidates are also the list of live managers); the leader runs the term's work with a
 * fenced store and stops it when it loses the lease or resigns, then campaigns again.
 */
export class ControlPlane {
  private readonly election: Election;
  private readonly abort = new AbortController();
  private leadership: Leadership | undefined;
  private running: Promise<void> | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private known: ManagerInfo[] = [];
  /** When the list of managers was last read (0: never). */
  private readAt = 0;
  /** When this manager started to lead, and when it first saw the leader it sees now (as a follower). */
  private leadingSince = 0;
  private leaderSeenSince = 0;
  private listeners = new Set<(managers: string[]) => void>();
  /** Times this manager took the lead. */
  terms = 0;

  constructor(
    client: Etcd3,
    private readonly store: Store,
    private readonly options: ControlPlaneOptions,
  ) {
    this.election = new Election(client, { id: JSON.stringify(options.self), ttlSeconds: options.ttlSeconds });
  }

  start(): void {
    this.running ??= this.run();
    this.refresher = setInterval(() => void this.refresh(), this.options.refreshMs ?? 1_000);
    void this.refresh();
  }

  /** Resigns (another manager takes over at once) and stops the term's work. */
  async stop(): Promise<void> {
    clearInterval(this.refresher);
    this.abort.abort(new FlotillaError(Code.Unavailable, 'the manager is stopping'));
    // A resign that fails (etcd away) only leaves the lease to expire: another manager takes over after the TTL.
    await this.leadership?.resign().catch(() => undefined);
    await this.running;
  }

  leading(): boolean {
    return this.leadership !== undefined;
  }

  /** The leader as last read (undefined while none is elected). */
  leader(): ManagerInfo | undefined {
    return this.leading() ? this.options.self : this.known[0];
  }

  /** The leader as last read from the candidates, even while this manager leads (who led before it took over). */
  lastReadLeader(): ManagerInfo | undefined {
    return this.known[0];
  }

  /** Addresses of the live managers, the leader first. */
  managers(): string[] {
    return this.members().map((m) => m.address);
  }

  /** The live managers, the leader first, this one included. */
  members(): ManagerInfo[] {
    const self = this.options.self;
    return this.known.some((m) => m.address === self.address) ? [...this.known] : [...this.known, self];
  }

  /**
   * Whether this manager hears a leader: it leads, or it read a leader's candidacy within the lease TTL (a
   * manager cut off from etcd soon stops saying so). What it answers to probes (PeerService).
   */
  hearsLeader(now = Date.now()): boolean {
    if (this.leading()) return true;
    // The first candidate leads (or is about to); this one first and not leading is no leader yet.
    const first = this.known[0];
    return (
      !!first && first.address !== this.options.self.address && now - this.readAt <= this.options.ttlSeconds * 1_000
    );
  }

  /** How long this manager has heard the leader it hears now (0: none); what it answers to probes too. */
  leaderHeardForMs(now = Date.now()): number {
    if (!this.hearsLeader(now)) return 0;
    return now - (this.leading() ? this.leadingSince : this.leaderSeenSince);
  }

  /** Called whenever the list of managers changes. */
  onManagersChanged(listener: (managers: string[]) => void): void {
    this.listeners.add(listener);
  }

  private async run(): Promise<void> {
    const { log } = this.options;
    while (!this.abort.signal.aborted) {
      let leadership: Leadership;
      try {
        leadership = await this.election.campaign(this.abort.signal);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        log.warn({ err: (err as Error).message }, 'election campaign failed; trying again');
        await sleep(500, this.abort.signal);
        continue;
      }
      if (this.abort.signal.aborted) {
        // stop() came while the campaign ended: it resigned nothing then, so this leadership goes here.
        await leadership.resign().catch(() => undefined);
        return;
      }
      this.leadership = leadership;
      this.leadingSince = Date.now();
      this.terms++;
      log.info({ fence: leadership.fence.createRevision.toString() }, 'leading the cluster');
      let term: Term | undefined;
      try {
        term = await this.options.lead(this.store.fenced(leadership.fence));
        void this.refresh();
        await leadership.lost;
      } catch (err) {
        log.error({ err: (err as Error).message }, 'the leader could not start its work; resigning');
        // As in stop(): a failed resign leaves the lease to expire.
        await leadership.resign().catch(() => undefined);
      } finally {
        this.leadership = undefined;
        await term?.stop().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'term stop failed'));
        log.info('no longer leading');
      }
    }
  }

  private async refresh(): Promise<void> {
    let candidates: string[];
    try {
      candidates = await this.election.candidates();
    } catch {
      return; // etcd unreachable: keep the last list.
    }
    const next = candidates.flatMap((value) => {
      try {
        const m = JSON.parse(value) as ManagerInfo;
        return typeof m.id === 'string' && typeof m.address === 'string' ? [m] : [];
      } catch {
        return []; // Not a manager's candidacy (another version's, say): no manager to list.
      }
    });
    const changed = next.map((m) => m.address).join() !== this.known.map((m) => m.address).join();
    if (next[0]?.address !== this.known[0]?.address || !this.hearsLeader()) this.leaderSeenSince = Date.now();
    this.known = next;
    this.readAt = Date.now();
    if (changed) for (const listener of this.listeners) listener(this.managers());
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
