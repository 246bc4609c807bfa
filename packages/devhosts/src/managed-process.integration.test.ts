import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess } from './managed-process.js';
import { freePort } from './server-process.js';

afterAll(() => ManagedProcess.stopAll());

const server = (port: number) =>
  `require('node:net').createServer((s) => s.end('hi')).listen(${port}, '127.0.0.1', () => console.log('up'))`;

describe('ManagedProcess', () => {
  it('starts a real server, waits until it answers, and stops it by PID', async () => {
    const port = await freePort();
    const proc = await ManagedProcess.start({
      name: 'echo',
      command: process.execPath,
      args: ['-e', server(port)],
      readyPort: port,
    });
    expect(proc.alive).toBe(true);
    expect(() => process.kill(proc.pid, 0)).not.toThrow();
    await proc.stop();
    expect(proc.alive).toBe(false);
    expect(() => process.kill(proc.pid, 0)).toThrow();
  });

  it('reports a process that dies before it is ready, with its output', async () => {
    const port = await freePort();
    await expect(
      ManagedProcess.start({
        name: 'crasher',
        command: process.execPath,
        args: ['-e', 'console.error("bad config"); process.exit(3)'],
        readyPort: port,
      }),
    ).rejects.toThrow(/crasher exited before it was ready:\n.*bad config/s);
  });

  it('kills a process that ignores SIGTERM after the grace period', async () => {
    const port = await freePort();
    const proc = await ManagedProcess.start({
      name: 'stubborn',
      command: process.execPath,
      args: ['-e', `process.on('SIGTERM', () => {}); ${server(port)}`],
      readyPort: port,
    });
    const started = Date.now();
    await proc.stop(300);
    expect(proc.alive).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});
