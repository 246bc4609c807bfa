import { NetworkView, type Task, TaskState } from '@flotilla/api';
import { NetworkViews } from '@flotilla/network';
import { Debounce, type Informer } from '@flotilla/store';
import type { Session, Sessions } from './session.js';

/** The caches a network view is made from. */
export interface ViewInformers {
  tasks: Informer<'tasks'>;
  nodes: Informer<'nodes'>;
  services: Informer<'services'>;
  networks: Informer<'networks'>;
}

/**
 * Sends each agent that wires overlay networks its view of them (peers, addresses, virtual IPs), worked out again
 * after each burst of changes for every session at once, and only where it changed.
 */
export class NetworkViewSender {
  private readonly debounce: Debounce;

  constructor(
    private readonly informers: ViewInformers,
    private readonly sessions: Sessions,
    private readonly logger?: { warn(obj: object, msg: string): void },
  ) {
    this.debounce = new Debounce(async () => this.sendAll(), { quietMs: 20, maxDelayMs: 200 });
    informers.tasks.subscribe((set) => {
      // Most task changes (progress, messages) change no node's view: only those that do wake the views.
      if (set.relisted || set.changes.some((c) => c.type === 'delete' || viewKey(c.previous) !== viewKey(c.value))) {
        this.debounce.poke();
      }
    });
    for (const informer of [informers.nodes, informers.services, informers.networks]) {
      (informer as Informer<'nodes'>).subscribe(() => this.debounce.poke());
    }
  }

  /** Sends one session its view now (its agent waits for its tasks' networks to be in a view to start them). */
  sendTo(session: Session): void {
    this.send(session, this.current());
  }

  stop(): Promise<void> {
    return this.debounce.stop();
  }

  /** Every node's network view, from the caches; a failure is logged and the sessions carry on. */
  private current(): NetworkViews | undefined {
    const { networks, services, tasks, nodes } = this.informers;
    try {
      return new NetworkViews({
        networks: networks.list().map((n) => n.value),
        services: services.list().map((s) => s.value),
        tasks: tasks.list().map((t) => t.value),
        nodes: nodes.list().map((n) => n.value),
      });
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'network views could not be made');
      return undefined;
    }
  }

  /** Sends every connected node its network view where it changed. */
  private sendAll(): void {
    const overlay = [...this.sessions.all()].filter((s) => s.overlay);
    if (overlay.length === 0) return;
    const views = this.current();
    for (const session of overlay) this.send(session, views);
  }

  private send(session: Session, views: NetworkViews | undefined): void {
    if (!views) return;
    let view: NetworkView;
    try {
      view = views.viewFor(session.nodeId);
    } catch (err) {
      this.logger?.warn({ node: session.nodeId, err: (err as Error).message }, 'no network view for the node');
      return;
    }
    // Until the store has the node's address, the session's is the one to use.
    view.nodeAddress ||= session.address;
    const encoded = Buffer.from(NetworkView.encode(view).finish());
    if (session.lastView?.equals(encoded)) return;
    session.lastView = encoded;
    session.writer.send('network', { network: view });
  }
}

/** What of a task a network view depends on: where it runs, its addresses, and whether it is ready or ended. */
function viewKey(t: Task | undefined): string {
  if (!t || t.networks.length === 0) return '';
  const state = t.status?.state ?? 0;
  const phase =
    state >= TaskState.TASK_STATE_COMPLETE ? 'ended' : state === TaskState.TASK_STATE_RUNNING ? 'running' : 'other';
  return `${t.nodeId}|${t.desiredState}|${phase}|${t.status?.health ?? ''}|${t.networks.map((n) => n.address).join(',')}`;
}
