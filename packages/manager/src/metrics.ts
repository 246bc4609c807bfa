import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from '@flotilla/observability';
import type { Dispatcher } from './dispatcher/dispatcher.js';
import type { BatcherStats } from './dispatcher/status-batcher.js';

/** The manager's Prometheus metrics: sessions, heartbeats, status-update batches, store call latency. */
export class ManagerMetrics {
  readonly registry = new Registry();
  readonly heartbeats = new Counter({
    name: 'flotilla_heartbeats_total',
    help: 'Heartbeats received from agents',
    registers: [this.registry],
  });
  readonly sessionsOpened = new Counter({
    name: 'flotilla_sessions_opened_total',
    help: 'Agent sessions established',
    registers: [this.registry],
  });
  readonly sessionsCutOff = new Counter({
    name: 'flotilla_sessions_cut_off_total',
    help: 'Agent sessions the leader closed: the node flooded it (flood) or did not read it (behind)',
    labelNames: ['why'],
    registers: [this.registry],
  });
  readonly storeCalls = new Histogram({
    name: 'flotilla_store_call_seconds',
    help: 'Duration of etcd calls by operation',
    labelNames: ['op'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    // Process and Node.js runtime metrics: resident memory, heap, event loop lag, GC.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Values read from the dispatcher when Prometheus scrapes. */
  watch(
    dispatcher: () => Dispatcher | undefined,
    stats: BatcherStats,
    leader: () => boolean,
    storeUp: () => boolean,
  ): void {
    new Gauge({
      name: 'flotilla_sessions',
      help: 'Agent sessions open now',
      registers: [this.registry],
      collect() {
        this.set(dispatcher()?.connectedNodes().length ?? 0);
      },
    });
    new Gauge({
      name: 'flotilla_store_up',
      help: '1 while etcd answers this manager',
      registers: [this.registry],
      collect() {
        this.set(storeUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'flotilla_leader',
      help: '1 while this manager leads',
      registers: [this.registry],
      collect() {
        this.set(leader() ? 1 : 0);
      },
    });
    for (const [name, help, read] of [
      ['flotilla_status_batches_total', 'Task status batches written', () => stats.batches],
      ['flotilla_status_updates_written_total', 'Task status updates written', () => stats.written],
      [
        'flotilla_status_updates_refused_total',
        'Status reports refused (task not assigned to the reporting node)',
        () => stats.refused,
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    }
  }
}
