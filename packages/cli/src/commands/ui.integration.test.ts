import type { RunningManager } from '@flotilla/manager';
import { type TestServer, tempDir } from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlClient } from '../control-client.js';
import { EXIT, exitOnError } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import type { Io } from '../io.js';
import { startLeadingManager } from '../test-manager.test-helpers.js';
import { isLoopback, uiCommand } from './ui.js';

// `flotilla ui` against a manager on a real etcd, with the operator credentials the manager wrote: it prints the
// one-time URL, serves until stopped, and stops cleanly.
let etcd: TestServer;
let manager: RunningManager;
const dirs = ['cli-ui-manager', 'cli-ui-cli'].map((label) => tempDir(label));
const [stateDir, cliDir] = dirs.map((d) => d.path) as [string, string];

beforeAll(async () => {
  ({ etcd, manager } = await startLeadingManager(stateDir, cliDir));
});

afterAll(async () => {
  await manager?.stop();
  await etcd?.destroy();
  for (const d of dirs) d.remove();
});

/** Runs `flotilla ui ARGS` until `stop` is aborted; `printed` sees its output as it comes. */
function flotillaUi(args: string[], stop: AbortSignal, env: Record<string, string> = {}) {
  const printed = { out: '', err: '' };
  const io: Io = {
    out: (t) => {
      printed.out += t;
    },
    err: (t) => {
      printed.err += t;
    },
    env,
  };
  const program = buildProgram([(i) => uiCommand(i, () => controlClient(cliDir), stop)], io);
  const done = program.parseAsync(['node', 'flotilla', 'ui', ...args]).then(
    () => EXIT.ok as number,
    (err: unknown) => exitOnError(err, io),
  );
  return { printed, done };
}

describe('flotilla ui', () => {
  it('prints the URL with its token and the port it took, serves until stopped, then stops cleanly', async () => {
    const stop = new AbortController();
    const run = flotillaUi(['--listen', '127.0.0.1:0', '--open'], stop.signal, { PATH: '/nonexistent' });
    const url = /http:\/\/127\.0\.0\.1:(\d+)\/\?token=[\w-]{43}/;
    await expect.poll(() => url.exec(run.printed.out)?.[0], { timeout: 10_000 }).toBeTruthy();
    const [printed, port] = url.exec(run.printed.out) as unknown as [string, string];
    expect(Number(port)).toBeGreaterThan(0);
    const first = await fetch(printed, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const task = await fetch(`http://127.0.0.1:${port}/api/tasks/none`, { headers: { cookie } });
    expect(task.status).toBe(404);
    // No xdg-open on this PATH: the command says to open the URL by hand; loopback needs no warning.
    expect(run.printed.err).toMatch(/open the URL above in a browser by hand/);
    expect(run.printed.err).not.toMatch(/warning/);
    stop.abort();
    expect(await run.done).toBe(EXIT.ok);
    expect(run.printed.out).toMatch(/stopped/);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('tells loopback addresses from others', () => {
    for (const host of ['127.0.0.1', '127.3.4.5', 'localhost', '::1', '[::1]']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com'])
      expect(isLoopback(host)).toBe(false);
  });

  it('refuses a --listen that is not HOST:PORT', async () => {
    const run = flotillaUi(['--listen', 'nowhere'], new AbortController().signal);
    expect(await run.done).toBe(EXIT.usage);
    expect(run.printed.err).toMatch(/HOST:PORT/);
  });
});
