/*
 * A stand-in for the UI server, for testing the page alone: it serves a built page (scripts/build-page.mjs) with the same
 * strict Content-Security-Policy, speaks the contract's stream, detail and action routes from a script the test
 * drives, and records every request it gets. The real server is tested on its own and end to end.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import type { LogLine, StreamSnapshot, TaskDetail } from '../../model.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};
const CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export class PageTestServer {
  readonly requests: Recorded[] = [];
  snapshot: StreamSnapshot;
  /** What POSTs answer: status and JSON body. */
  actionAnswer: { status: number; body: unknown } = { status: 200, body: { ok: true, message: 'Scaled.' } };
  /** While true, the stream is refused (503), as while the UI server has lost its control-API watch. */
  refuseStreams = false;
  private readonly streams = new Set<ServerResponse>();
  private readonly server: Server;

  constructor(
    private readonly pageDir: string,
    snapshot: StreamSnapshot,
  ) {
    this.snapshot = snapshot;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        res.writeHead(500).end(error.message);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sends one stream message to every open page. */
  send(type: string, data: unknown): void {
    for (const res of this.streams) res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Ends every open stream, as a UI server that restarted would. */
  dropStreams(): void {
    for (const res of this.streams) res.destroy();
    this.streams.clear();
  }

  async stop(): Promise<void> {
    this.dropStreams();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = req.url ?? '/';
    this.requests.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString() });
    const path = url.split('?')[0] ?? '/';

    if (path === '/api/stream') {
      if (this.refuseStreams) return json(res, 503, { error: 'The control API cannot be reached.' });
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      // A short retry keeps the reconnect test quick; the real server leaves the browser's default.
      res.write('retry: 300\n\n');
      this.streams.add(res);
      res.on('close', () => this.streams.delete(res));
      res.write(`event: snapshot\ndata: ${JSON.stringify(this.snapshot)}\n\n`);
      return;
    }
    const logs = /^\/api\/tasks\/([^/]+)\/logs$/.exec(path);
    if (logs) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      for (let i = 1; i <= 3; i++) {
        const line: LogLine = { at: Date.now(), stream: i === 3 ? 'stderr' : 'stdout', text: `${logs[1]} line ${i}` };
        res.write(`event: line\ndata: ${JSON.stringify(line)}\n\n`);
      }
      return; // Left open: the page follows it.
    }
    const detail = /^\/api\/tasks\/([^/]+)$/.exec(path);
    if (detail) {
      const task = this.snapshot.tasks.find((t) => t.id === decodeURIComponent(detail[1] as string));
      if (!task) return json(res, 404, { error: 'No such task; it may have been removed.' });
      const answer: TaskDetail = {
        task,
        history: [
          { state: 'pending', at: task.createdAt, message: '' },
          { state: task.state, at: task.stateSince, message: task.message },
        ],
        healthOutput: task.health ? `probe said ${task.health}` : '',
      };
      return json(res, 200, answer);
    }
    if (req.method === 'POST' && path.startsWith('/api/')) {
      return json(res, this.actionAnswer.status, this.actionAnswer.body);
    }
    if (req.method === 'GET') {
      const file = path === '/' ? 'index.html' : normalize(path).replace(/^\/+/, '');
      if (!file.includes('..') && TYPES[extname(file)]) {
        try {
          const body = await readFile(join(this.pageDir, file));
          res.writeHead(200, { 'Content-Type': TYPES[extname(file)], 'Content-Security-Policy': CSP });
          res.end(body);
          return;
        } catch {
          // Falls through to 404.
        }
      }
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
