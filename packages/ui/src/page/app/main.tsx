/* The page: the board, the services, events and chart panels, the task detail, and the action dialog. */
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { UiNode } from '../../model.js';
import { type Action, sendAction } from './api.js';
import { Board, GRID_AFTER } from './board.js';
import { Chart } from './chart.js';
import { DetailPanel } from './detail.js';
import { ConfirmDialog, type Pending } from './dialog.js';
import { EventsPanel } from './events.js';
import { ServicesPanel } from './services.js';
import { applyBatch, compareNodes, emptyState, UNASSIGNED } from './state.js';
import { type ConnectionState, openStream } from './stream.js';

/** How often relative times ("3 min ago") are brought up to date. */
const CLOCK_EVERY_MS = 30_000;

function App() {
  const [state, setState] = useState(emptyState);
  const [connection, setConnection] = useState<ConnectionState>('reconnecting');
  const [detailId, setDetailId] = useState('');
  const [activeId, setActiveId] = useState('');
  const [pending, setPending] = useState<Pending | undefined>();
  const [result, setResult] = useState<{ ok: boolean; message: string } | undefined>();
  const [now, setNow] = useState(() => Date.now());
  const opener = useRef<HTMLElement | null>(null);

  useEffect(
    () =>
      openStream('/api/stream', {
        onBatch: (batch) => setState((old) => applyBatch(old, batch)),
        onConnection: setConnection,
      }),
    [],
  );
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), CLOCK_EVERY_MS);
    return () => clearInterval(timer);
  }, []);

  const nodes = useMemo(() => [...state.nodes.values()].sort(compareNodes), [state.nodes]);
  const services = useMemo(
    () => [...state.services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    [state.services],
  );
  const layout = nodes.length > GRID_AFTER ? 'grid' : 'columns';

  // The card Tab reaches: the one last focused while it exists, else the first on the board.
  const tabbableId = useMemo(() => {
    if (activeId && state.tasks.has(activeId)) return activeId;
    return firstTask(nodes, state.byNode);
  }, [activeId, state.tasks, nodes, state.byNode]);

  const openDetail = useCallback((id: string) => {
    opener.current = document.activeElement as HTMLElement | null;
    setDetailId(id);
  }, []);
  const closeDetail = useCallback(() => {
    setDetailId('');
    // Focus goes back to the card the detail was opened from (found again: it may have been redrawn or moved).
    const from = opener.current;
    const id = from?.dataset.taskId;
    requestAnimationFrame(() => {
      const card = id ? document.querySelector<HTMLElement>(`[data-task-id="${CSS.escape(id)}"]`) : from;
      card?.focus();
    });
  }, []);
  useEffect(() => {
    if (!detailId) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && !document.querySelector('dialog[open]')) closeDetail();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [detailId, closeDetail]);

  const askAction = useCallback((action: Action, what: string) => {
    opener.current = document.activeElement as HTMLElement | null;
    setPending({ action, what });
  }, []);
  const cancelAction = useCallback(() => {
    setPending(undefined);
    opener.current?.focus();
  }, []);
  const confirmAction = useCallback(async (action: Action) => {
    setPending(undefined);
    setResult(undefined);
    const answer = await sendAction(action);
    setResult(answer);
    opener.current?.focus();
  }, []);

  const unassigned = state.byNode.get(UNASSIGNED)?.length ?? 0;
  const leader = state.cluster.managers.find((m) => m.leader);
  return (
    <>
      <header class="top">
        <h1>Flotilla</h1>
        <p class="summary">
          {state.loaded
            ? `${nodes.length} nodes · ${services.length} services · ${state.tasks.size} tasks` +
              (unassigned ? ` · ${unassigned} unassigned` : '') +
              (leader ? ` · leader ${leader.address}` : '')
            : 'Waiting for the first picture of the cluster…'}
        </p>
        <p class="connection" data-connection="" data-state={connection} role="status">
          <span aria-hidden="true">{connection === 'live' ? '● ' : '◌ '}</span>
          {connection === 'live'
            ? 'Live'
            : state.loaded
              ? 'Reconnecting… (showing the last known state)'
              : 'Connecting…'}
        </p>
      </header>
      {result && (
        <p class={`result ${result.ok ? 'ok' : 'bad'}`} data-action-result={result.ok ? 'ok' : 'error'} role="alert">
          <span aria-hidden="true">{result.ok ? '✓ ' : '✕ '}</span>
          {result.message}
          <button type="button" class="link" onClick={() => setResult(undefined)} aria-label="Dismiss">
            ✕
          </button>
        </p>
      )}
      <main class={`layout${detailId ? ' with-detail' : ''}`}>
        <section class="board-wrap" aria-label="Nodes and their tasks">
          <h2 class="visually-hidden">Nodes</h2>
          <Board
            loaded={state.loaded}
            nodes={nodes}
            byNode={state.byNode}
            layout={layout}
            activeTaskId={tabbableId}
            onActivate={setActiveId}
            onOpen={openDetail}
            onAction={askAction}
          />
        </section>
        <div class="side">
          <ServicesPanel services={services} now={now} onAction={askAction} />
          <Chart samples={state.samples} services={services} />
          <EventsPanel events={state.events} available={state.eventsAvailable} />
        </div>
        {detailId && (
          <DetailPanel key={detailId} taskId={detailId} task={state.tasks.get(detailId)} onClose={closeDetail} />
        )}
      </main>
      <ConfirmDialog pending={pending} onConfirm={confirmAction} onCancel={cancelAction} />
    </>
  );
}

function firstTask(nodes: UiNode[], byNode: Map<string, { id: string }[]>): string {
  const waiting = byNode.get(UNASSIGNED)?.[0];
  if (waiting) return waiting.id;
  for (const node of nodes) {
    const task = byNode.get(node.id)?.[0];
    if (task) return task.id;
  }
  return '';
}

const root = document.getElementById('app');
if (root) render(<App />, root);
