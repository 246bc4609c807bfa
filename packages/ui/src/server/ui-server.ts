import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Code, type ControlServiceClient, FlotillaError } from '@flotilla/api';
import { Access } from './access.js';
import { runAction } from './actions.js';
import { ClusterFeed, type FeedOptions } from './cluster-feed.js';
import { SseClients } from './sse.js';
import { DEFAULT_PAGE_DIR, pageFile } from './static-files.js';
import { followTaskLogs, taskDetail } from './task-detail.js';

export interface UiServerOptions {
  client: ControlServiceClient;
  /** HOST:PORT; port 0 takes a free one. */
  listen: string;
  /** The built page (index.html, app.js, app.css…); default packages/ui/dist/page. */
  pageDir?: string;
  /** Largest request body accepted (default 16 KiB). */
  maxBodyBytes?: number;
  feed?: FeedOptions;
}

export interface UiServer {
  /** http://HOST:PORT/?token=T: the one URL that opens the page (good once). */
  url: string;
  /** HOST:PORT as bound. */
  address: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  // The first URL carries the token: no page it links to may learn it.
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const UNAUTHORIZED_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Flotilla</title></head><body>
<h1>Not signed in</h1><p>Open the URL that <code>flotilla ui</code> printed (it works once; run <code>flotilla ui</code>
again for a new one).</p></body></html>\n`;

const NOT_BUILT = (dir: string) =>
  `The page was not built: there is no index.html in ${dir}. Run \`npm run build\` in the Flotilla checkout, then reload.\n`;

/**
 * `flotilla ui`'s web server: the page, its live stream (one control-API Watch shared by every browser), task
 * details and logs, and the actions, all behind the one-time token and its session cookie.
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { host, port } = hostPort(options.listen);
  const pageDir = options.pageDir ?? DEFAULT_PAGE_DIR;
  const maxBody = options.maxBodyBytes ?? 16 * 1024;
  const access = new Access();
  const clients = new SseClients();
  const feed = new ClusterFeed(options.client, (event, data) => clients.broadcast(event, data), options.feed);
  const stops = new Set<() => void>();
  let bound = '';

  const server = createServer((request, response) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    handle(request, response).catch((err: unknown) => fail(response, err));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!hostAllowed(request.headers.host, bound, host)) {
      return text(response, 403, 'This server answers only to the address flotilla ui printed.\n');
    }
    if (request.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      // The printed URL opened again in the browser that used it: the page, not a refusal.
      if (access.allowed(request)) return redirect(response, '/');
      const session = access.redeem(url.searchParams.get('token') ?? '');
      if (!session) return html(response, 401, UNAUTHORIZED_PAGE);
      response.writeHead(303, { 'Set-Cookie': Access.setCookie(session), Location: '/', 'Cache-Control': 'no-store' });
      response.end();
      return;
    }
    if (!access.allowed(request)) return html(response, 401, UNAUTHORIZED_PAGE);
    if (request.method === 'POST') return post(request, response, url.pathname);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return json(response, 405, { error: 'only GET and POST are served' });
    }
    if (url.pathname === '/api/stream') return stream(request, response);
    const logs = /^\/api\/tasks\/([^/]+)\/logs$/.exec(url.pathname);
    if (logs) return taskLogs(request, response, decodeURIComponent(logs[1] as string));
    const task = /^\/api\/tasks\/([^/]+)$/.exec(url.pathname);
    if (task) return detail(response, decodeURIComponent(task[1] as string));
    if (url.pathname.startsWith('/api/')) return json(response, 404, { error: `no ${url.pathname} here` });
    return page(response, url.pathname);
  }

  async function post(request: IncomingMessage, response: ServerResponse, pathname: string): Promise<void> {
    // A cross-site form can neither set this header nor pass the Origin check: only the page itself acts.
    if (request.headers['x-flotilla-ui'] !== '1') {
      return json(response, 403, { error: 'actions need the X-Flotilla-UI: 1 header (the page sends it)' });
    }
    if (request.headers.origin !== `http://${request.headers.host}`) {
      return json(response, 403, { error: 'actions are taken only from the page this server serves' });
    }
    const route = /^\/api\/(services|nodes)\/([^/]+)\/([a-z]+)$/.exec(pathname);
    if (!route) return json(response, 404, { error: `no action at ${pathname}` });
    const body = await readBody(request, maxBody);
    if (body === 'too-large') {
      response.setHeader('Connection', 'close');
      return json(response, 413, { error: `request bodies are at most ${maxBody} bytes` });
    }
    let parsed: unknown;
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      return json(response, 400, { error: 'the body must be JSON' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return json(response, 400, { error: 'the body must be a JSON object' });
    }
    const [, kind, id, action] = route as unknown as [string, 'services' | 'nodes', string, string];
    const result = await runAction(
      options.client,
      kind,
      decodeURIComponent(id),
      action,
      parsed as Record<string, unknown>,
    );
    return json(response, 200, result);
  }

  async function stream(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const snapshot = await feed.snapshot();
    if (request.destroyed) return;
    const client = clients.open(response);
    client.send('snapshot', snapshot);
  }

  async function detail(response: ServerResponse, id: string): Promise<void> {
    const task = feed.task(id);
    if (!task) return json(response, 404, { error: `no task ${id} (it may have been removed)` });
    return json(response, 200, await taskDetail(options.client, task, feed.hasEvents));
  }

  function taskLogs(request: IncomingMessage, response: ServerResponse, id: string): void {
    if (!feed.task(id)) {
      json(response, 404, { error: `no task ${id} (it may have been removed)` });
      return;
    }
    const client = clients.open(response, { broadcast: false, retryMs: 10_000 });
    const stop = followTaskLogs(
      options.client,
      id,
      (line) => client.send('line', line),
      (err) => {
        // The page shows why the log stopped (logs off, the task's node gone); the browser retries slowly.
        if (err) client.send('error', { error: FlotillaError.from(err).message });
        client.end();
      },
    );
    stops.add(stop);
    request.on('close', () => {
      stops.delete(stop);
      stop();
    });
  }

  async function page(response: ServerResponse, pathname: string): Promise<void> {
    const file = await pageFile(pageDir, pathname);
    if (!file) {
      if (pathname === '/' || pathname === '/index.html') return text(response, 500, NOT_BUILT(pageDir));
      return text(response, 404, `no ${pathname} here\n`);
    }
    response.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache' });
    response.end(file.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const info = server.address();
  const boundPort = typeof info === 'object' && info ? info.port : port;
  bound = `${isIP(host) === 6 ? `[${host}]` : host}:${boundPort}`;
  feed.start();
  return {
    url: `http://${bound}/?token=${access.token}`,
    address: bound,
    async close() {
      feed.close();
      for (const stop of stops) stop();
      stops.clear();
      clients.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function hostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  if (at <= 0 || !host || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `--listen takes HOST:PORT (127.0.0.1:8088; port 0: any free one), got "${listen}"`,
    );
  }
  return { host, port };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Whether the Host header names this server: its own address, a loopback name when it listens on loopback, any
 * name with its port when it listens on every address. A page of another site that rebinds its name to this address
 * is refused (and it would carry no session cookie anyway).
 */
function hostAllowed(header: string | undefined, bound: string, listenHost: string): boolean {
  if (!header) return false;
  if (header === bound) return true;
  const port = bound.slice(bound.lastIndexOf(':') + 1);
  const at = header.lastIndexOf(':');
  if (at < 0 || header.slice(at + 1) !== port) return false;
  const name = header.slice(0, at);
  if (listenHost === '0.0.0.0' || listenHost === '::') return true;
  const loopback = listenHost === 'localhost' || listenHost.startsWith('127.') || listenHost === '::1';
  return loopback && LOOPBACK_NAMES.includes(name);
}

/** The request's body, or 'too-large' past `max` bytes (read no further). */
function readBody(request: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  if (Number(request.headers['content-length'] ?? 0) > max) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        request.removeAllListeners('data');
        request.pause();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.FailedPrecondition]: 409,
  [Code.Aborted]: 409,
  [Code.PermissionDenied]: 403,
  [Code.Unauthenticated]: 401,
  [Code.ResourceExhausted]: 429,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

function fail(response: ServerResponse, err: unknown): void {
  const error = FlotillaError.from(err);
  if (response.headersSent) {
    response.end();
    return;
  }
  json(response, HTTP_STATUS[error.code] ?? 500, { error: error.message });
}

function redirect(response: ServerResponse, location: string): void {
  response.writeHead(303, { Location: location, 'Cache-Control': 'no-store' });
  response.end();
}

function json(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(JSON.stringify(body));
}

function text(response: ServerResponse, code: number, body: string): void {
  response.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(body);
}

function html(response: ServerResponse, code: number, body: string): void {
  response.writeHead(code, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(body);
}
