import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { HealthCheck } from '@flotilla/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecResult, Executor } from './executor/executor.js';
import { httpProbe, probeFor, tcpProbe } from './health-probe.js';

describe('health probes', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });
  const listen = async (server: Server) => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  };
  const loopback = () => '127.0.0.1';

  it('HTTP: 2xx and 3xx are healthy, others not, with the start of the body', async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        const code = Number(req.url?.slice(1)) || 200;
        res.writeHead(code, code === 302 ? { location: '/elsewhere' } : {});
        res.end(code >= 500 ? 'database down' : 'ok');
      }),
    );
    expect(await httpProbe(loopback, port, '/204')(1000)).toEqual({ healthy: true, output: 'GET /204: 204' });
    expect((await httpProbe(loopback, port, '/302')(1000)).healthy).toBe(true);
    expect(await httpProbe(loopback, port, '/503')(1000)).toEqual({
      healthy: false,
      output: 'GET /503: 503 database down',
    });
    expect((await httpProbe(loopback, port, '/404')(1000)).healthy).toBe(false);
  });

  it('HTTP: a refused connection or no answer in time is unhealthy', async () => {
    const port = await listen(createHttpServer(() => undefined));
    const silent = await httpProbe(loopback, port, '/')(100);
    expect(silent).toEqual({ healthy: false, output: 'GET /: no answer within 100ms' });
    const closed = await listen(createHttpServer());
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 20));
    expect((await httpProbe(loopback, closed, '/')(1000)).output).toMatch(/ECONNREFUSED/);
  });

  it('TCP: healthy when the port accepts a connection', async () => {
    const server = createTcpServer((socket) => socket.end());
    servers.push(server as unknown as Server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    expect(await tcpProbe(loopback, port)(1000)).toEqual({ healthy: true, output: `connected to port ${port}` });
    server.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(await tcpProbe(loopback, port)(1000)).toMatchObject({ healthy: false });
  });

  it('runs CMD as given and CMD-SHELL through /bin/sh -c in the task, and prefers the Flotilla probe', async () => {
    const calls: string[][] = [];
    const executor = {
      exec: async (_id: string, argv: string[]): Promise<ExecResult> => {
        calls.push(argv);
        return argv.includes('fail') ? { exitCode: 1, output: '' } : { exitCode: 0, output: 'fine\n' };
      },
    } as unknown as Executor;
    const target = { taskId: 't', executor, address: loopback };
    const cmd = probeFor(HealthCheck.fromPartial({ test: ['CMD', 'check', 'fail'] }), target);
    expect(await cmd?.(1000)).toEqual({ healthy: false, output: 'exit code 1' });
    const shell = probeFor(HealthCheck.fromPartial({ test: ['CMD-SHELL', 'pg_isready || exit 1'] }), target);
    expect(await shell?.(1000)).toEqual({ healthy: true, output: 'fine' });
    expect(calls).toEqual([
      ['check', 'fail'],
      ['/bin/sh', '-c', 'pg_isready || exit 1'],
    ]);
    expect(probeFor(HealthCheck.fromPartial({ test: ['NONE'] }), target)).toBeUndefined();
    expect(probeFor(HealthCheck.fromPartial({ test: [] }), target)).toBeUndefined();
    const tcp = probeFor(HealthCheck.fromPartial({ test: ['CMD', 'x'], probe: { tcp: { port: 1 } } }), target);
    expect(await tcp?.(1000)).toMatchObject({ healthy: false, output: expect.stringMatching(/^port 1: /) });
    expect(calls).toHaveLength(2);
  });
});
