import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlServiceClient, Node } from '@flotilla/api';
import { type RunningManager, startManager } from '@flotilla/manager';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { startEtcd, type TestServer } from '@flotilla/testing';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StreamSnapshot } from '../model.js';
import { startUiServer, type UiServer } from './ui-server.js';

// A manager whose watches may queue only two changes: a burst ends the UI server's Watch, as a lost manager would.
// The server calls Watch again and every open browser gets the new snapshot, with what the burst wrote.
let etcd: TestServer;
let manager: RunningManager;
let control: ControlServiceClient;
let ui: UiServer;
const dirs: string[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  const dir = (label: string) => {
    const d = mkdtempSync(path.join(tmpdir(), `flotilla-ui-${label}-`));
    dirs.push(d);
    return d;
  };
  manager = await startManager({
    etcd: { endpoints: [etcd.url] },
    listen: '127.0.0.1:0',
    stateDir: dir('manager'),
    cliConfigDir: dir('cli'),
    watchQueueLimit: 2,
  });
  const { operator, ca } = manager.identity;
  control = new ControlServiceClient(
    manager.address,
    credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem)),
    { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
  );
  ui = await startUiServer({ client: control, listen: '127.0.0.1:0', pageDir: dir('page'), feed: { retryMinMs: 50 } });
}, 120_000);

afterAll(async () => {
  await ui?.close();
  control?.close();
  await manager?.stop();
  await etcd?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('calls Watch again after losing it, and sends every browser a new snapshot', async () => {
  const first = await fetch(ui.url, { redirect: 'manual' });
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const snapshots: StreamSnapshot[] = [];
  const abort = new AbortController();
  const reading = (async () => {
    const response = await fetch(`http://${ui.address}/api/stream`, { headers: { cookie }, signal: abort.signal });
    let pending = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      pending += Buffer.from(chunk).toString('utf8');
      for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (block.startsWith('event: snapshot\n')) snapshots.push(JSON.parse(block.slice(block.indexOf('data: ') + 6)));
      }
    }
  })().catch(() => undefined);
  await expect.poll(() => snapshots.length, { timeout: 10_000 }).toBe(1);
  expect(snapshots[0]?.nodes.map((n) => n.id)).not.toContain('burst-0');
  // Ten nodes in one transaction: one etcd watch response, more than the Watch may queue.
  await manager.store.batch(
    Array.from({ length: 10 }, (_, i) => ({
      op: 'put' as const,
      kind: 'nodes' as const,
      id: `burst-${i}`,
      value: Node.fromPartial({ id: `burst-${i}`, description: { hostname: `burst-${i}` } }),
    })),
  );
  await expect.poll(() => snapshots.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  const latest = snapshots.at(-1) as StreamSnapshot;
  expect(latest.nodes.map((n) => n.id).filter((id) => id.startsWith('burst-'))).toHaveLength(10);
  abort.abort();
  await reading;
});
