import type { ServerResponse } from 'node:http';

/** A browser that fell this far behind is cut off: its EventSource reconnects and gets a fresh snapshot. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const PING_MS = 15_000;

export interface SseClient {
  send(event: string, data: unknown): void;
  end(): void;
}

/** The open `text/event-stream` responses: the stream's browsers (who get every broadcast) and the log followers. */
export class SseClients {
  private readonly responses = new Set<ServerResponse>();
  private readonly listening = new Set<ServerResponse>();
  private readonly ping: NodeJS.Timeout;

  constructor() {
    // Comments keep proxies (and idle timeouts) from closing a quiet stream.
    this.ping = setInterval(() => {
      for (const response of this.responses) write(response, ': ping\n\n');
    }, PING_MS);
    this.ping.unref();
  }

  /** Starts an event stream on `response`; with `broadcast` (the default) it gets every broadcast. */
  open(response: ServerResponse, options: { broadcast?: boolean; retryMs?: number } = {}): SseClient {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Proxies that buffer responses would hold the stream back.
      'X-Accel-Buffering': 'no',
    });
    if (options.retryMs) response.write(`retry: ${options.retryMs}\n\n`);
    this.responses.add(response);
    if (options.broadcast !== false) this.listening.add(response);
    const forget = () => {
      this.responses.delete(response);
      this.listening.delete(response);
    };
    response.on('close', forget);
    return {
      send: (event, data) => write(response, message(event, data)),
      end: () => {
        forget();
        response.end();
      },
    };
  }

  broadcast(event: string, data: unknown): void {
    if (this.listening.size === 0) return;
    const text = message(event, data);
    for (const response of this.listening) write(response, text);
  }

  closeAll(): void {
    clearInterval(this.ping);
    for (const response of this.responses) response.end();
    this.responses.clear();
    this.listening.clear();
  }
}

function message(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function write(response: ServerResponse, text: string): void {
  if (response.writableEnded || response.destroyed) return;
  if (response.writableLength > MAX_BUFFERED_BYTES) {
    response.destroy();
    return;
  }
  response.write(text);
}
