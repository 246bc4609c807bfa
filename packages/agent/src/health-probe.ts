import { request } from 'node:http';
import { connect } from 'node:net';
import type { HealthCheck } from '@flotilla/api';
import type { Executor, NetworkProbe } from './executor/executor.js';
import { formatMs, HEALTH_OUTPUT_LIMIT, type Probe } from './health-monitor.js';

/**
 * The probe a healthcheck asks for, or undefined when there is none to run (no healthcheck, `NONE`, or an empty
 * test: an image's own healthcheck is the executor's to bring). A Flotilla probe (x-flotilla-probe) is made by
 * the agent itself and takes the place of `test`, which other tools still run.
 */
export function probeFor(
  check: HealthCheck | undefined,
  target: { taskId: string; executor: Executor; address: () => string },
): Probe | undefined {
  if (!check) return undefined;
  const { http, tcp } = check.probe ?? {};
  const inNamespace = target.executor.networkProbe?.bind(target.executor);
  if (http) {
    const path = http.path || '/';
    return inNamespace
      ? namespaceProbe(inNamespace, target.taskId, { kind: 'http', port: http.port, path })
      : httpProbe(target.address, http.port, path);
  }
  if (tcp) {
    return inNamespace
      ? namespaceProbe(inNamespace, target.taskId, { kind: 'tcp', port: tcp.port })
      : tcpProbe(target.address, tcp.port);
  }
  const [kind, ...rest] = check.test;
  if (kind === 'CMD' && rest.length > 0) return execProbe(target.executor, target.taskId, rest);
  if (kind === 'CMD-SHELL' && rest.length > 0) {
    return execProbe(target.executor, target.taskId, ['/bin/sh', '-c', rest.join(' ')]);
  }
  return undefined;
}

/** An HTTP or TCP probe the executor runs inside the task's network namespace. */
function namespaceProbe(run: NonNullable<Executor['networkProbe']>, taskId: string, probe: NetworkProbe): Probe {
  return async (timeoutMs) => {
    const result = await run(taskId, probe, timeoutMs);
    const what = probe.kind === 'http' ? `GET ${probe.path}` : `port ${probe.port}`;
    if (result.timedOut) return { healthy: false, output: `${what}: no answer within ${formatMs(timeoutMs)}` };
    const detail = result.output.trim();
    return result.exitCode === 0
      ? {
          healthy: true,
          output: probe.kind === 'tcp' ? `connected to port ${probe.port}` : `${what}: ${detail}`.trim(),
        }
      : { healthy: false, output: `${what}: ${detail || `failed (exit code ${result.exitCode})`}` };
  };
}

/** Runs the command in the task's container: exit code 0 is healthy, as in Docker. */
export function execProbe(executor: Executor, taskId: string, argv: string[]): Probe {
  return async (timeoutMs) => {
    const result = await executor.exec(taskId, argv, timeoutMs);
    if (result.timedOut) {
      return { healthy: false, output: `the command did not finish within ${formatMs(timeoutMs)}` };
    }
    const output = result.output.trim() || (result.exitCode === 0 ? '' : `exit code ${result.exitCode}`);
    return { healthy: result.exitCode === 0, output };
  };
}

/** GET http://ADDRESS:PORT/PATH: any 2xx or 3xx answer is healthy (redirects are not followed). */
export function httpProbe(address: () => string, port: number, path: string): Probe {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const host = address();
      let settled = false;
      const done = (healthy: boolean, output: string) => {
        if (settled) return;
        settled = true;
        resolve({ healthy, output });
      };
      const req = request({ host, port, path, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
        const code = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          // Only the start of the body is shown: the rest is not read.
          if (body.length >= HEALTH_OUTPUT_LIMIT) res.destroy();
        });
        res.on('close', () => done(code >= 200 && code < 400, `GET ${path}: ${code} ${body}`.trim()));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${formatMs(timeoutMs)}`)));
      req.on('error', (err) => done(false, `GET ${path}: ${err.message}`));
      req.end();
    });
}

/** Healthy when a TCP connection to ADDRESS:PORT opens. */
export function tcpProbe(address: () => string, port: number): Probe {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const host = address();
      const socket = connect({ host, port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve({ healthy: true, output: `connected to port ${port}` });
      });
      socket.once('timeout', () => socket.destroy(new Error(`no connection within ${formatMs(timeoutMs)}`)));
      socket.once('error', (err) => resolve({ healthy: false, output: `port ${port}: ${err.message}` }));
    });
}
