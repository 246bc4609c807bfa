import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detachedLauncher } from './detached-process.js';
import { pidAlive, stopPid } from './pids.js';
import { freePort } from './server-process.js';

const dir = mkdtempSync(path.join(tmpdir(), 'devhosts-detached-'));
const started: number[] = [];
afterAll(async () => {
  for (const pid of started) await stopPid(pid, 1_000);
  rmSync(dir, { recursive: true, force: true });
});

const server = (port: number) =>
  `require('node:net').createServer((s) => s.end('hi')).listen(${port}, '127.0.0.1', () => console.log('up on', ${port}))`;

describe('detached processes', () => {
  it('start with their output in a log file, and stop by PID', async () => {
    const port = await freePort();
    const launch = detachedLauncher(dir, { DEVHOSTS_TEST: 'yes' });
    const proc = await launch({
      name: 'echo',
      command: process.execPath,
      args: ['-e', `console.log(process.env.DEVHOSTS_TEST); ${server(port)}`],
      readyPort: port,
    });
    started.push(proc.pid);
    expect(proc.alive).toBe(true);
    expect(proc.logFile).toBe(path.join(dir, 'echo.log'));
    await expect.poll(() => proc.log).toContain(`yes\nup on ${port}`);
    await stopPid(proc.pid);
    expect(pidAlive(proc.pid)).toBe(false);
  });

  it('report one that exits before it is ready, with its log, and leave nothing running', async () => {
    const launch = detachedLauncher(dir);
    await expect(
      launch({
        name: 'crasher',
        command: process.execPath,
        args: ['-e', 'console.error("bad config"); process.exit(3)'],
        readyPort: await freePort(),
      }),
    ).rejects.toThrow(/crasher exited before it was ready:\n.*bad config/s);
  });

  it('say so when the command cannot start', async () => {
    await expect(
      detachedLauncher(dir)({ name: 'nothing', command: path.join(dir, 'no-such-file'), args: [] }),
    ).rejects.toThrow(/could not start nothing/);
  });
});
