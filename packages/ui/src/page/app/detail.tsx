/* The task detail panel: state history, exit code, health output, and the task's log following. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogLine, TaskDetail, UiTask } from '../../model.js';
import { fetchDetail } from './api.js';
import { clock, taskLook } from './format.js';

/** Log lines kept on the page: the server sends the last 100 first, then follows. */
const LINES_KEPT = 1_000;

export interface DetailProps {
  taskId: string;
  /** The task as the stream has it now (undefined once it is gone). */
  task: UiTask | undefined;
  onClose(): void;
}

export function DetailPanel({ taskId, task, onClose }: DetailProps) {
  const [detail, setDetail] = useState<TaskDetail | undefined>();
  const [error, setError] = useState('');
  const [lines, setLines] = useState<LogLine[]>([]);
  const [following, setFollowing] = useState(false);
  const closeButton = useRef<HTMLButtonElement>(null);
  const logBox = useRef<HTMLPreElement>(null);

  useEffect(() => {
    closeButton.current?.focus();
  }, []);

  // The detail is read again when the task changes state, so the history includes the new state.
  const state = task?.state;
  useEffect(() => {
    let stale = false;
    fetchDetail(taskId)
      .then((d) => {
        if (!stale) {
          setDetail(d);
          setError('');
        }
      })
      .catch((e: Error) => {
        if (!stale) setError(e.message);
      });
    return () => {
      stale = true;
    };
  }, [taskId, state]);

  useEffect(() => {
    setLines([]);
    const source = new EventSource(`/api/tasks/${encodeURIComponent(taskId)}/logs`);
    let pending: LogLine[] = [];
    let frame = 0;
    source.onopen = () => setFollowing(true);
    source.onerror = () => setFollowing(false);
    source.addEventListener('line', (event) => {
      try {
        pending.push(JSON.parse((event as MessageEvent<string>).data) as LogLine);
      } catch {
        return;
      }
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          const batch = pending;
          pending = [];
          setLines((old) => old.concat(batch).slice(-LINES_KEPT));
        });
      }
    });
    return () => {
      source.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [taskId]);

  // Keep the newest line in view while the reader is at the bottom; leave them be when they scrolled up.
  const atBottom = useRef(true);
  useEffect(() => {
    const box = logBox.current;
    if (box && atBottom.current) box.scrollTop = box.scrollHeight;
  }, [lines]);

  const shown = task ?? detail?.task;
  const look = shown ? taskLook(shown) : undefined;
  return (
    <aside class="detail" data-task-detail={taskId} aria-labelledby="detail-title">
      <header class="detail-head">
        <h2 id="detail-title">Task {shown?.name ?? taskId}</h2>
        <button type="button" ref={closeButton} onClick={onClose} aria-label="Close task detail (Escape)">
          Close ✕
        </button>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {shown && look && (
        <dl class="facts">
          <dt>State</dt>
          <dd class={`tone-text-${look.tone}`}>
            <span aria-hidden="true">{look.icon} </span>
            {look.label} (desired {shown.desiredState})
          </dd>
          <dt>Service</dt>
          <dd>
            {shown.serviceName} · slot {shown.slot || 'global'} · version {shown.specVersion}
          </dd>
          <dt>Node</dt>
          <dd class="mono">{shown.nodeId || 'not assigned'}</dd>
          <dt>Image</dt>
          <dd class="mono">{shown.image}</dd>
          <dt>Exit code</dt>
          <dd>{shown.state === 'running' ? '—' : shown.exitCode}</dd>
          {shown.error && (
            <>
              <dt>Error</dt>
              <dd class="error">{shown.error}</dd>
            </>
          )}
          {shown.message && (
            <>
              <dt>Message</dt>
              <dd>{shown.message}</dd>
            </>
          )}
        </dl>
      )}
      <h3>State history</h3>
      {detail ? (
        <ol class="history">
          {detail.history.map((h, i) => (
            <li key={i}>
              <span class="mono">{clock(h.at)}</span> {h.state}
              {h.message && ` — ${h.message}`}
            </li>
          ))}
        </ol>
      ) : (
        !error && <p class="quiet">Loading…</p>
      )}
      <h3>Health output</h3>
      {detail?.healthOutput ? (
        <pre class="health">{detail.healthOutput}</pre>
      ) : (
        <p class="quiet">No health probe ran.</p>
      )}
      <h3>
        Logs <span class="quiet">{following ? '(following)' : '(not connected)'}</span>
      </h3>
      <pre
        class="logs"
        data-log-lines=""
        ref={logBox}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus to scroll by keyboard
        tabIndex={0}
        role="log"
        aria-label="Log lines"
        onScroll={(event) => {
          const box = event.currentTarget;
          atBottom.current = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
        }}
      >
        {lines.map((line, i) => (
          <span key={i} class={`log-line ${line.stream}`}>
            {line.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </aside>
  );
}
