/*
 * The live stream (GET /api/stream). Messages are queued and handed over once per animation frame: a burst of
 * thousands of task changes (a stack deployed on 1,000 nodes) is one redraw, not thousands.
 */
import { MESSAGE_TYPES, type StreamMessage } from './state.js';

export type ConnectionState = 'live' | 'reconnecting';

/** How long to wait before opening a new EventSource after the browser gave up on one (it answered 401, say). */
const RETRY_AFTER_CLOSE_MS = 3_000;

export interface StreamHandlers {
  onBatch(batch: StreamMessage[]): void;
  onConnection(state: ConnectionState): void;
}

/** Opens the stream; returns a function that closes it. */
export function openStream(url: string, handlers: StreamHandlers): () => void {
  let queue: StreamMessage[] = [];
  let scheduled = false;
  let closed = false;
  let source: EventSource | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (!closed && batch.length > 0) handlers.onBatch(batch);
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // A hidden tab gets no animation frames; a timer still drains the queue so it does not grow without bound.
    if (document.hidden) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
  };

  const connect = () => {
    source = new EventSource(url);
    source.onopen = () => handlers.onConnection('live');
    source.onerror = () => {
      handlers.onConnection('reconnecting');
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (an answer that is not a stream); retry.
      if (source?.readyState === EventSource.CLOSED && !closed) {
        source.close();
        retry = setTimeout(connect, RETRY_AFTER_CLOSE_MS);
      }
    };
    for (const type of MESSAGE_TYPES) {
      source.addEventListener(type, (event) => {
        let data: unknown;
        try {
          data = JSON.parse((event as MessageEvent<string>).data);
        } catch {
          return; // A message the page cannot read is dropped; the next snapshot puts things right.
        }
        if (type === 'snapshot') queue = []; // Everything before it is replaced anyway.
        queue.push({ type, data } as StreamMessage);
        schedule();
      });
    }
  };
  connect();

  return () => {
    closed = true;
    if (retry) clearTimeout(retry);
    source?.close();
  };
}
