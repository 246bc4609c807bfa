/*
 * The page in a real browser (Debian's headless Chromium), fed a scripted stream by a test server that speaks the
 * contract (model.ts). Cards and columns are found by the DOM contract's data-* attributes only.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamSnapshot, UiNode, UiTask } from '../model.js';
import { launchChromium } from './test-support/browser.js';
import { snapshot } from './test-support/fixtures.js';
import { PageTestServer } from './test-support/server.js';

const ARTIFACTS = new URL('../../../../test-artifacts/', import.meta.url);

let browser: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
let server: PageTestServer;
let page: Page;
/** Every URL the browser asked for, and what the page printed as an error (CSP refusals among them). */
let asked: string[];
let errors: string[];

let pageDir: string;

beforeAll(async () => {
  // The page is built from source into a folder of the test's own: never a stale dist/page, and no race with a
  // build or another test that reads dist/page.
  pageDir = await mkdtemp(join(tmpdir(), 'flotilla-ui-page-'));
  const script = fileURLToPath(new URL('../../scripts/build-page.mjs', import.meta.url));
  await promisify(execFile)(process.execPath, [script, pageDir]);
  browser = await launchChromium();
  context = browser.context;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (pageDir) await rm(pageDir, { recursive: true, force: true });
});

afterEach(async () => {
  await page?.close();
  await server?.stop();
});

async function open(snap: StreamSnapshot): Promise<void> {
  server = new PageTestServer(pageDir, snap);
  await server.start();
  page = await context.newPage();
  asked = [];
  errors = [];
  page.on('request', (request) => asked.push(request.url()));
  page.on('console', (message) => {
    // Failed loads are checked by status below; a stream the test drops on purpose logs one too.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(message.text());
    }
  });
  page.on('response', (response) => {
    if (response.status() === 404) errors.push(`404 for ${response.url()}`);
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.url);
  await page.locator('[data-connection][data-state=live]').waitFor();
  await boardDrawn();
}

/** Waits until every column is drawn (a big board fills over a few frames, busy meanwhile). */
async function boardDrawn(): Promise<void> {
  await page.locator('[data-layout][aria-busy=false]').waitFor({ state: 'attached' });
}

/** Marks the document, so a test can tell the page was not reloaded. */
async function mark(): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { marked: boolean }).marked = true;
  });
}
async function stillMarked(): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { marked?: boolean }).marked === true);
}

function expectOnlyTestServer(): void {
  expect(asked.length).toBeGreaterThan(0);
  expect(asked.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
  expect(errors).toEqual([]);
}

describe('the UI page in a browser', { timeout: 90_000 }, () => {
  it('shows every node column and every task card of the snapshot, each card in its node', async () => {
    const snap = snapshot({ nodes: 4, services: 3, perNode: 5 });
    await open(snap);
    for (const node of snap.nodes) {
      const column = page.locator(`[data-node-id="${node.id}"]`);
      await expect(column.getAttribute('data-status')).resolves.toBe('ready');
      await expect(column.getAttribute('data-availability')).resolves.toBe('active');
    }
    for (const task of snap.tasks) {
      const where = task.nodeId ? `[data-node-id="${task.nodeId}"]` : '[data-unassigned]';
      const card = page.locator(`${where} [data-task-id="${task.id}"]`);
      expect(await card.count()).toBe(1);
      expect(await card.getAttribute('data-state')).toBe(task.state);
      expect(await card.getAttribute('data-service-id')).toBe(task.serviceId);
    }
    expect(await page.locator('[data-task-id]').count()).toBe(snap.tasks.length);
    // Few nodes: side by side columns, not the dense grid.
    expect(await page.locator('[data-layout]').getAttribute('data-layout')).toBe('columns');
    // Services panel: one row per service with its figures and update state, said in words too.
    for (const svc of snap.services) {
      const row = page.locator(`li[data-service-id="${svc.id}"]`);
      expect(await row.getAttribute('data-running')).toBe(String(svc.running));
      expect(await row.getAttribute('data-desired')).toBe(String(svc.desired));
      expect(await row.getAttribute('data-update-state')).toBe(svc.update.state);
    }
    const paused = snap.services.find((s) => s.update.state === 'paused')!;
    expect(await page.locator(`li[data-service-id="${paused.id}"]`).textContent()).toContain('PAUSED');
    // The updating service's bar is drawn in batches of its parallelism.
    const updating = snap.services.find((s) => s.update.state === 'updating')!;
    const batches = Math.ceil(updating.update.slotsTotal / updating.update.parallelism);
    expect(await page.locator(`li[data-service-id="${updating.id}"] .batch`).count()).toBe(batches);
    expect(await page.locator('[data-events] li').count()).toBe(snap.events.length);
    expect(await page.locator('[data-chart] polyline').count()).toBe(snap.services.length);
    // Colour is never the only sign: a failed card carries its state in words and an icon.
    const failed = snap.tasks.find((t) => t.state === 'failed')!;
    const label = await page.locator(`[data-task-id="${failed.id}"]`).getAttribute('aria-label');
    expect(label).toContain('failed');
    expect(await page.locator(`[data-task-id="${failed.id}"] .card-icon`).textContent()).not.toBe('');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('ui.png', ARTIFACTS).pathname, fullPage: false });
    expectOnlyTestServer();
  });

  it('moves a card to its new node when a task put says so, without reloading', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 2 });
    await open(snap);
    await mark();
    const moved = { ...(snap.tasks.find((t) => t.nodeId === 'node0000') as UiTask), nodeId: 'node0002' };
    server.send('task', { op: 'put', object: moved });
    await page.locator(`[data-node-id="node0002"] [data-task-id="${moved.id}"]`).waitFor();
    expect(await page.locator(`[data-node-id="node0000"] [data-task-id="${moved.id}"]`).count()).toBe(0);
    expect(await page.locator(`[data-task-id="${moved.id}"]`).count()).toBe(1);
    // A pending task that gets a node leaves the unassigned column.
    const placed = { ...(snap.tasks.find((t) => !t.nodeId) as UiTask), nodeId: 'node0001', state: 'assigned' };
    server.send('task', { op: 'put', object: placed });
    await page.locator(`[data-node-id="node0001"] [data-task-id="${placed.id}"][data-state=assigned]`).waitFor();
    expect(await page.locator('[data-unassigned]').count()).toBe(0);
    // A deleted task's card goes.
    server.send('task', { op: 'delete', id: moved.id });
    await page.locator(`[data-task-id="${moved.id}"]`).waitFor({ state: 'detached' });
    expect(await stillMarked()).toBe(true);
    expectOnlyTestServer();
  });

  it('greys out a node that goes down and keeps the page', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 2 });
    await open(snap);
    await mark();
    const column = page.locator('[data-node-id="node0001"]');
    const readyBackground = await column.evaluate((el) => getComputedStyle(el).backgroundColor);
    server.send('node', { op: 'put', object: { ...(snap.nodes[1] as UiNode), status: 'down' } });
    await page.locator('[data-node-id="node0001"][data-status=down]').waitFor();
    expect(await column.evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe(readyBackground);
    expect(await column.textContent()).toContain('down');
    // The other nodes stay as they were, and so do the down node's cards.
    expect(await page.locator('[data-node-id="node0000"]').getAttribute('data-status')).toBe('ready');
    const onDown = snap.tasks.filter((t) => t.nodeId === 'node0001').length;
    expect(await column.locator('[data-task-id]').count()).toBe(onDown);
    expect(await stillMarked()).toBe(true);
    expectOnlyTestServer();
  });

  it('draws 300 nodes as a dense grid', async () => {
    const snap = snapshot({ nodes: 300, services: 6, perNode: 4 });
    await open(snap);
    expect(await page.locator('[data-layout]').getAttribute('data-layout')).toBe('grid');
    expect(await page.locator('[data-node-id]').count()).toBe(snap.nodes.length);
    expect(await page.locator('[data-task-id]').count()).toBe(snap.tasks.length);
    // Several cells side by side on one row, and many rows: a grid, not 300 columns in a line.
    const tops = await page
      .locator('[data-node-id]')
      .evaluateAll((els) => els.map((el) => Math.round(el.getBoundingClientRect().top)));
    const rows = new Set(tops);
    expect(rows.size).toBeGreaterThan(1);
    expect(rows.size).toBeLessThan(snap.nodes.length);
    const widths = await page
      .locator('[data-node-id]')
      .evaluateAll((els) => new Set(els.map((el) => Math.round(el.getBoundingClientRect().width))).size);
    expect(widths).toBe(1); // Every cell the same size: no layout jump when one gets more tasks.
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('ui-300-nodes.png', ARTIFACTS).pathname });
    expectOnlyTestServer();
  });

  it('takes 1,000 nodes and 10,000 tasks and keeps up with changes', async () => {
    const snap = snapshot({ nodes: 1_000, services: 20, perNode: 10 });
    await open(snap);
    await page
      .locator('[data-task-id]')
      .nth(snap.tasks.length - 1)
      .waitFor({ state: 'attached' });
    expect(await page.locator('[data-task-id]').count()).toBe(snap.tasks.length);
    // A burst of changes (every task on 100 nodes moves state) is taken in frames, and the page answers.
    const burst = snap.tasks.slice(0, 1_000).map((t) => ({ ...t, state: 'shutdown', desiredState: 'shutdown' }));
    for (const t of burst) server.send('task', { op: 'put', object: t });
    const last = burst[burst.length - 1] as UiTask;
    await page.locator(`[data-task-id="${last.id}"][data-state=shutdown]`).waitFor();
    expect(await page.locator('[data-state=shutdown]').count()).toBe(burst.length);
    expectOnlyTestServer();
  });

  it('scales a service through the confirmation dialog, with the header, to the right URL', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 2 });
    await open(snap);
    const svc = snap.services[1]!;
    const row = page.locator(`li[data-service-id="${svc.id}"]`);
    const dialog = page.locator('dialog[data-confirm-dialog]');

    // Cancelled: nothing is sent.
    await row.locator('button[data-action=scale]').click();
    await dialog.locator('input[name=replicas]').waitFor();
    await dialog.locator('button[data-cancel]').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(server.requests.filter((r) => r.method === 'POST')).toEqual([]);

    await row.locator('button[data-action=scale]').click();
    const input = dialog.locator('input[name=replicas]');
    expect(await input.inputValue()).toBe(String(svc.desired)); // Starts at the current figure.
    await input.fill('7');
    await dialog.locator('button[data-confirm]').click();
    await page.locator('[data-action-result=ok]').waitFor();
    const posts = server.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.url).toBe(`/api/services/${svc.id}/scale`);
    expect(posts[0]!.headers['x-flotilla-ui']).toBe('1');
    expect(JSON.parse(posts[0]!.body)).toEqual({ replicas: 7 });

    // A refused action shows the server's words, and a bad figure is never sent.
    server.actionAnswer = { status: 409, body: { error: 'Service is being removed; try again later.' } };
    await row.locator('button[data-action=scale]').click();
    await input.fill('-1');
    await dialog.locator('button[data-confirm]').click();
    expect(await dialog.isVisible()).toBe(true);
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    await input.fill('2');
    await dialog.locator('button[data-confirm]').click();
    await page.locator('[data-action-result=error]').waitFor();
    expect(await page.locator('[data-action-result]').textContent()).toContain('Service is being removed');

    // Drain on a node goes to the availability route.
    server.actionAnswer = { status: 200, body: { ok: true, message: 'Drained.' } };
    await page.locator('[data-node-id="node0002"] button[data-action=drain]').click();
    await dialog.locator('button[data-confirm]').click();
    await page.locator('[data-action-result=ok]').waitFor();
    const drain = server.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(drain.url).toBe('/api/nodes/node0002/availability');
    expect(JSON.parse(drain.body)).toEqual({ availability: 'drain' });
    expectOnlyTestServer();
  });

  it('sends each action to its route, and only after it is confirmed', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 2 });
    snap.nodes[1] = { ...(snap.nodes[1] as UiNode), availability: 'drain' };
    await open(snap);
    const svc = snap.services[0]!;
    const dialog = page.locator('dialog[data-confirm-dialog]');
    const cases = [
      {
        button: `li[data-service-id="${svc.id}"] button[data-action=rollback]`,
        url: `/api/services/${svc.id}/rollback`,
        body: {},
      },
      {
        button: `li[data-service-id="${svc.id}"] button[data-action=force]`,
        url: `/api/services/${svc.id}/force`,
        body: {},
      },
      {
        button: '[data-node-id="node0001"] button[data-action=activate]',
        url: '/api/nodes/node0001/availability',
        body: { availability: 'active' },
      },
    ];
    // A drained node offers activate, not drain; an active one the other way round.
    expect(await page.locator('[data-node-id="node0001"] button[data-action=drain]').count()).toBe(0);
    expect(await page.locator('[data-node-id="node0000"] button[data-action=activate]').count()).toBe(0);
    for (const c of cases) {
      const before = server.requests.filter((r) => r.method === 'POST').length;
      await page.locator(c.button).click();
      await dialog.waitFor();
      expect(await dialog.locator('input[name=replicas]').count()).toBe(0);
      expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(before); // Not before confirming.
      await dialog.locator('button[data-confirm]').click();
      await dialog.waitFor({ state: 'hidden' });
      await expect.poll(() => server.requests.filter((r) => r.method === 'POST').length).toBe(before + 1);
      const post = server.requests.filter((r) => r.method === 'POST').at(-1)!;
      expect(post.url).toBe(c.url);
      expect(post.headers['x-flotilla-ui']).toBe('1');
      expect(JSON.parse(post.body)).toEqual(c.body);
    }
    expectOnlyTestServer();
  });

  it('says plainly when the event log cannot be reached', async () => {
    const snap = { ...snapshot({ nodes: 2, services: 1, perNode: 1 }), events: [], eventsAvailable: false };
    await open(snap);
    const panel = page.locator('[data-events]');
    expect(await panel.textContent()).toContain('cannot be reached');
    expect(await panel.locator('li').count()).toBe(0);
    expectOnlyTestServer();
  });

  it('is usable with the keyboard: Tab to a card, arrows between cards, Enter opens the detail, Escape closes', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 3 });
    await open(snap);
    let focused: string | null = null;
    for (let i = 0; i < 40 && !focused; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.taskId ?? null);
    }
    expect(focused).not.toBeNull();
    await page.keyboard.press('ArrowRight'); // From the unassigned column to the first node's.
    const right = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.taskId ?? null);
    expect(right).not.toBe(focused);
    expect(await page.locator(`[data-node-id="node0000"] [data-task-id="${right}"]`).count()).toBe(1);
    await page.keyboard.press('ArrowDown');
    const next = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.taskId ?? null);
    expect(next).not.toBeNull();
    expect(next).not.toBe(right);
    expect(await page.locator(`[data-node-id="node0000"] [data-task-id="${next}"]`).count()).toBe(1);

    await page.keyboard.press('Enter');
    const detail = page.locator(`[data-task-detail="${next}"]`);
    await detail.waitFor();
    await detail.locator('[data-log-lines] .log-line').nth(2).waitFor();
    expect(await detail.locator('[data-log-lines]').textContent()).toContain(`${next} line 3`);
    expect(await detail.locator('.history li').count()).toBe(2);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('ui-task-detail.png', ARTIFACTS).pathname });

    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
    await page.waitForFunction((id) => (document.activeElement as HTMLElement | null)?.dataset.taskId === id, next);
    expectOnlyTestServer();
  });

  it('keeps focus and scroll when a new snapshot replaces the state, and shows a lost stream', async () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 3 });
    await open(snap);
    await page.setViewportSize({ width: 900, height: 500 });
    await page.evaluate(() => window.scrollTo(0, 200));
    const card = snap.tasks.find((t) => t.nodeId === 'node0001')!;
    await page.locator(`[data-task-id="${card.id}"]`).focus();
    const scrolled = await page.evaluate(() => window.scrollY);
    expect(scrolled).toBeGreaterThan(0);
    await mark();

    // The server loses its stream: the page says so, reconnects by itself, and takes the new snapshot.
    const changed = { ...(snap.tasks.find((t) => t.nodeId === 'node0002') as UiTask), state: 'failed' };
    server.snapshot = { ...snap, tasks: snap.tasks.map((t) => (t.id === changed.id ? changed : t)) };
    server.refuseStreams = true;
    server.dropStreams();
    await page.locator('[data-connection][data-state=reconnecting]').waitFor();
    expect(await page.locator('[data-connection]').textContent()).toContain('Reconnecting');
    expect(await page.locator(`[data-task-id="${card.id}"]`).count()).toBe(1); // The last picture stays.
    server.refuseStreams = false;
    await page.locator('[data-connection][data-state=live]').waitFor();
    await page.locator(`[data-task-id="${changed.id}"][data-state=failed]`).waitFor();
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.taskId)).toBe(card.id);
    expect(await page.evaluate(() => window.scrollY)).toBe(scrolled);
    expect(await stillMarked()).toBe(true);
    expectOnlyTestServer();
  });
});
