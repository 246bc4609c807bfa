import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlServiceClient, NodeSpec_Availability, TaskState } from '@flotilla/api';
import { type RunningManager, startManager } from '@flotilla/manager';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { HollowNodes, startEtcd, type TestServer } from '@flotilla/testing';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamSnapshot, UiService, UiTask } from '../model.js';
import { startUiServer, type UiServer } from './ui-server.js';

// A real etcd, a leading manager and two hollow nodes; the UI server talks to the manager with the operator's
// certificate, and the tests talk to the UI server over HTTP as a browser would (fetch, cookies by hand).
const ENV_VALUE = 'env-value-never-shown-7f3a';
const SECRET_VALUE = 'secret-content-never-shown-91c2';
const STACK = `
services:
  web:
    image: nginx:1
    environment:
      API_TOKEN: ${ENV_VALUE}
    secrets: [db_password]
    deploy:
      replicas: 1
secrets:
  db_password:
    environment: DB_PASSWORD
`;

let etcd: TestServer;
let manager: RunningManager;
let control: ControlServiceClient;
let hollow: HollowNodes;
let ui: UiServer;
let cookie: string;
const dirs: string[] = [];

function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `flotilla-ui-${label}-`));
  dirs.push(dir);
  return dir;
}

function rpc<Req, Res>(
  method: (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, v: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(control, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, value) =>
      err ? reject(new Error(err.details)) : resolve(value),
    ),
  );
}

beforeAll(async () => {
  etcd = await startEtcd();
  manager = await startManager({
    etcd: { endpoints: [etcd.url] },
    listen: '127.0.0.1:0',
    stateDir: tempDir('manager'),
    cliConfigDir: tempDir('cli'),
  });
  const deadline = Date.now() + 10_000;
  while (!manager.controlPlane.leading() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const { operator, ca } = manager.identity;
  control = new ControlServiceClient(
    manager.address,
    credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem)),
    { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
  );
  hollow = await HollowNodes.start({
    manager: manager.address,
    token: manager.identity.tokens.worker,
    count: 2,
    hostname: (i) => `ui-${i}`,
  });
  const stack = toStackSpec(loadStackText(STACK, { env: { DB_PASSWORD: SECRET_VALUE } }).stack, 'ui', () =>
    Buffer.from(SECRET_VALUE),
  );
  for (const service of stack.services) if (service.placement) service.placement.allowProcessExecutor = true;
  await rpc(control.deployStack, { stack, prune: false });
  // The stack settles (its task running) before the UI server starts: its first snapshot is then the whole story.
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    const tasks = (await manager.store.list('tasks')).items;
    if (tasks.length === 1 && tasks[0]?.value.status?.state === TaskState.TASK_STATE_RUNNING) break;
  }
  const pageDir = tempDir('page');
  writeFileSync(path.join(pageDir, 'index.html'), '<!doctype html><script src="app.js"></script>');
  writeFileSync(path.join(pageDir, 'app.js'), 'console.log(1);');
  writeFileSync(path.join(pageDir, 'app.css'), 'body{}');
  ui = await startUiServer({ client: control, listen: '127.0.0.1:0', pageDir, feed: { coalesceMs: 50 } });
  const first = await fetch(ui.url, { redirect: 'manual' });
  expect(first.status).toBe(303);
  cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
}, 120_000);

afterAll(async () => {
  await ui?.close();
  hollow?.stop();
  control?.close();
  await manager?.stop();
  await etcd?.destroy();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const base = () => `http://${ui.address}`;
const get = (p: string, headers: Record<string, string> = { cookie }) => fetch(`${base()}${p}`, { headers });

function post(p: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base()}${p}`, {
    method: 'POST',
    headers: {
      cookie,
      'content-type': 'application/json',
      'x-flotilla-ui': '1',
      origin: base(),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** An open event stream: its messages as they come, and all its text (to look for what must never be in it). */
function events(p: string) {
  const abort = new AbortController();
  const messages: { event: string; data: unknown }[] = [];
  let text = '';
  const done = (async () => {
    const response = await fetch(`${base()}${p}`, { headers: { cookie }, signal: abort.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      const part = decoder.decode(chunk, { stream: true });
      text += part;
      pending += part;
      let end = pending.indexOf('\n\n');
      while (end >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) messages.push({ event, data: JSON.parse(data) });
        end = pending.indexOf('\n\n');
      }
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) throw err;
  });
  return { messages, text: () => text, stop: () => abort.abort(), done };
}

/** GET / with this Host header (fetch sets its own). */
function statusWithHost(host: string): Promise<number | undefined> {
  const [hostname, port] = ui.address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, path: '/', headers: { cookie, host } }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', reject);
    request.end();
  });
}

async function storedService() {
  const services = await manager.store.list('services');
  const web = services.items.find((s) => s.value.spec?.annotations?.name === 'ui_web');
  if (!web) throw new Error('no ui_web');
  return web.value;
}

describe('the UI server', () => {
  it('lets the token in once, then only the session cookie; others get 401', async () => {
    const again = await fetch(ui.url, { redirect: 'manual' });
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(cookie).toMatch(/^flotilla_ui=[\w-]{43}$/);
    for (const p of ['/', '/api/stream', '/api/tasks/x', '/app.js']) {
      const response = await get(p, {});
      expect(response.status).toBe(401);
      expect(await response.text()).toMatch(/flotilla ui/);
    }
    const wrong = await get('/', { cookie: 'flotilla_ui=not-a-session' });
    expect(wrong.status).toBe(401);
    const first = await fetch(`${base()}/?token=${ui.url.split('token=')[1]}`, { redirect: 'manual' });
    expect(first.status).toBe(401);
    // The browser that used it may open it again: it is sent to the page, with no new session.
    const reopened = await fetch(ui.url, { redirect: 'manual', headers: { cookie } });
    expect(reopened.status).toBe(303);
    expect(reopened.headers.get('location')).toBe('/');
    expect(reopened.headers.get('set-cookie')).toBeNull();
  });

  it('serves the page with its content types and security headers', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(index.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect((await get('/app.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await get('/app.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await get('/missing.js')).status).toBe(404);
    expect((await get('/%2e%2e/%2e%2e/package.json')).status).toBe(404);
    // A name that is not this server's (a rebinding attack) is refused, cookie or not.
    expect(await statusWithHost('evil.example:80')).toBe(403);
    expect(await statusWithHost(`localhost:${ui.address.split(':')[1]}`)).toBe(200);
  });

  it('says so when the page was not built', async () => {
    const empty = tempDir('empty');
    mkdirSync(path.join(empty, 'sub'));
    const bare = await startUiServer({ client: control, listen: '127.0.0.1:0', pageDir: empty });
    try {
      const first = await fetch(bare.url, { redirect: 'manual' });
      const session = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const response = await fetch(`http://${bare.address}/`, { headers: { cookie: session } });
      expect(response.status).toBe(500);
      expect(await response.text()).toMatch(/not built.*npm run build/s);
    } finally {
      await bare.close();
    }
  });

  it('streams a snapshot of the cluster, then a scale as single task and service changes', async () => {
    const stream = events('/api/stream');
    await expect.poll(() => stream.messages.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const first = stream.messages[0] as { event: string; data: StreamSnapshot };
    expect(first.event).toBe('snapshot');
    const [nodes, services, tasks] = await Promise.all(
      (['nodes', 'services', 'tasks'] as const).map(async (k) => (await manager.store.list(k)).items.map((i) => i.id)),
    );
    expect(first.data.nodes.map((n) => n.id).sort()).toEqual(nodes?.sort());
    expect(first.data.services.map((s) => s.id).sort()).toEqual(services?.sort());
    expect(first.data.tasks.map((t) => t.id).sort()).toEqual(tasks?.sort());
    expect(first.data.nodes.every((n) => n.role === 'worker' && n.status === 'ready')).toBe(true);
    const web = first.data.services.find((s) => s.name === 'ui_web') as UiService;
    expect(web.mode).toBe('replicated');
    expect(web.desired).toBe(1);

    const before = new Set(first.data.tasks.map((t) => t.id));
    const scaled = await post(`/api/services/${web.id}/scale`, { replicas: 3 });
    expect(scaled.status).toBe(200);
    expect(await scaled.json()).toMatchObject({ ok: true });
    expect((await storedService()).spec?.replicas).toBe(3n);
    await expect
      .poll(
        () =>
          new Set(
            stream.messages
              .filter((m) => m.event === 'task')
              .map((m) => (m.data as { op: string; object: UiTask }).object?.id)
              .filter((id) => id && !before.has(id)),
          ).size,
        { timeout: 15_000 },
      )
      .toBe(2);
    await expect
      .poll(() =>
        stream.messages
          .filter((m) => m.event === 'service')
          .map((m) => (m.data as { object: UiService }).object)
          .some((s) => s.id === web.id && s.desired === 3 && s.running === 3),
      )
      .toBe(true);
    // The whole state is never sent again for a change.
    expect(stream.messages.filter((m) => m.event === 'snapshot')).toHaveLength(1);
    stream.stop();
    await stream.done;
  });

  it('never streams environment values or secret content, even in the last change of an update', async () => {
    const stream = events('/api/stream');
    await expect.poll(() => stream.messages.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const web = await storedService();
    await rpc(control.updateService, {
      service: web.id,
      envAdd: ['API_TOKEN=another-never-shown-44d1'],
      envRm: [],
      force: false,
    });
    await expect
      .poll(() =>
        stream.messages
          .filter((m) => m.event === 'service')
          .some((m) =>
            (m.data as { object: UiService }).object.lastChange.includes('container.env.API_TOKEN: (set) → (changed)'),
          ),
      )
      .toBe(true);
    const text = stream.text();
    for (const secret of [ENV_VALUE, SECRET_VALUE, 'another-never-shown-44d1']) expect(text).not.toContain(secret);
    expect(text).toContain('API_TOKEN');
    stream.stop();
    await stream.done;
  });

  it('refuses POSTs without the header, from another origin, and bodies over the cap', async () => {
    const web = await storedService();
    const replicas = web.spec?.replicas;
    const noHeader = await post(`/api/services/${web.id}/scale`, { replicas: 5 }, { 'x-flotilla-ui': '' });
    expect(noHeader.status).toBe(403);
    const crossOrigin = await post(`/api/services/${web.id}/scale`, { replicas: 5 }, { origin: 'http://evil.example' });
    expect(crossOrigin.status).toBe(403);
    const noCookie = await post(`/api/services/${web.id}/scale`, { replicas: 5 }, { cookie: '' });
    expect(noCookie.status).toBe(401);
    const big = await post(`/api/services/${web.id}/scale`, JSON.stringify({ replicas: 5, pad: 'x'.repeat(20_000) }));
    expect(big.status).toBe(413);
    const bad = await post(`/api/services/${web.id}/scale`, { replicas: -1 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/replicas/);
    expect((await storedService()).spec?.replicas).toBe(replicas);
  });

  it('drains a node through POST', async () => {
    const node = (await manager.store.list('nodes')).items[0]?.value;
    const response = await post(`/api/nodes/${node?.id}/availability`, { availability: 'drain' });
    expect(response.status).toBe(200);
    const stored = await manager.store.get('nodes', node?.id as string);
    expect(stored?.value.spec?.availability).toBe(NodeSpec_Availability.AVAILABILITY_DRAIN);
    const wrong = await post(`/api/nodes/${node?.id}/availability`, { availability: 'gone' });
    expect(wrong.status).toBe(400);
    const unknown = await post(`/api/nodes/no-such-node/availability`, { availability: 'active' });
    expect(unknown.status).toBe(404);
  });

  it("answers a task's detail, and says why its logs cannot be followed without Redis", async () => {
    const task = (await manager.store.list('tasks')).items[0]?.value;
    const response = await get(`/api/tasks/${task?.id}`);
    expect(response.status).toBe(200);
    const detail = (await response.json()) as { task: UiTask; history: unknown[] };
    expect(detail.task.id).toBe(task?.id);
    expect(detail.history.length).toBeGreaterThan(0);
    expect((await get('/api/tasks/no-such-task')).status).toBe(404);
    const logs = events(`/api/tasks/${task?.id}/logs`);
    await logs.done;
    expect(logs.messages).toEqual([{ event: 'error', data: { error: expect.stringMatching(/logs are off/) } }]);
  });

  it('closes with streams open, leaving no server behind', async () => {
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = servers();
    const other = await startUiServer({ client: control, listen: '127.0.0.1:0', pageDir: tempDir('other') });
    expect(servers()).toBe(before + 1);
    const first = await fetch(other.url, { redirect: 'manual' });
    const session = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const abort = new AbortController();
    const open = await fetch(`http://${other.address}/api/stream`, {
      headers: { cookie: session },
      signal: abort.signal,
    });
    expect(open.status).toBe(200);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect.poll(servers).toBe(before);
    await expect(fetch(`http://${other.address}/`)).rejects.toThrow();
    abort.abort();
  });
});
