import type { EventLog, FlotillaEvent } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { Change, ChangeSet, Informer } from '@flotilla/store';
import { nodeEvents, serviceEvents, taskEvents } from './event-derivation.js';

/** The informers a publisher reads: the leader term's own, shared with the control loops. */
export interface PublishedInformers {
  services: Informer<'services'>;
  tasks: Informer<'tasks'>;
  nodes: Informer<'nodes'>;
}

export interface EventPublisherOptions {
  log: EventLog;
  /** This manager (the new leader) and the leader before it, when it knew one. */
  leaderId: string;
  previousLeaderId: string;
  logger: Logger;
  /** The time events are stamped with (tests fix it). */
  now?: () => number;
}

/**
 * Writes the cluster's events to the event log while this manager leads: what the leader term's informers see
 * change, turned into events by the pure derivation, and the leader change itself. `EventLog.emit` only buffers
 * (bounded, oldest dropped past the bound), so a slow or absent Redis never holds up the informers or the loops;
 * the publisher says once per outage that events are being lost, and once that they flow again.
 */
export class EventPublisher {
  private readonly unsubscribe: (() => void)[] = [];
  private readonly now: () => number;
  private lastDropped = 0;
  private losing = false;

  constructor(
    private readonly informers: PublishedInformers,
    private readonly options: EventPublisherOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Subscribes to the informers (started already: their first listing is what the cluster was, not news) and
   * writes the leader change.
   */
  start(): void {
    const { informers } = this;
    this.lastDropped = this.options.log.stats().dropped;
    this.unsubscribe.push(
      informers.services.subscribe((set) => this.publish(set, serviceEvents)),
      informers.tasks.subscribe((set) => this.publish(set, taskEvents)),
      informers.nodes.subscribe((set) => this.publish(set, nodeEvents)),
    );
    this.emit({
      type: 'leader.changed',
      leaderId: this.options.leaderId,
      previousId: this.options.previousLeaderId,
      at: this.now(),
    });
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private publish<T>(
    set: ChangeSet<T>,
    derive: (previous: T | undefined, value: T | undefined, at: number) => FlotillaEvent[],
  ) {
    const at = this.now();
    for (const change of set.changes) {
      let events: FlotillaEvent[];
      try {
        events = derive(change.previous, changedValue(change), at);
      } catch (err) {
        // A bug in the derivation must not reach the informer, which delivers to the control loops too.
        this.options.logger.error({ err, id: change.id }, 'could not derive events from a change: skipped');
        continue;
      }
      for (const event of events) this.emit(event);
    }
    this.watchLosses();
  }

  private emit(event: FlotillaEvent): void {
    this.options.log.emit(event);
  }

  /** Logs once when events start being dropped (Redis away past the buffer), and once when writes work again. */
  private watchLosses(): void {
    const stats = this.options.log.stats();
    if (stats.dropped > this.lastDropped) {
      if (!this.losing) {
        this.options.logger.warn(
          { dropped: stats.dropped - this.lastDropped, connected: stats.connected },
          'the event log cannot keep up (is Redis down?): events are dropped until it answers again',
        );
      }
      this.losing = true;
      this.lastDropped = stats.dropped;
    } else if (this.losing && stats.connected && stats.buffered === 0) {
      this.losing = false;
      this.options.logger.info({ dropped: stats.dropped }, 'the event log is written again');
    }
  }
}

function changedValue<T>(change: Change<T>): T | undefined {
  return change.type === 'put' ? change.value : undefined;
}
