import Fastify from 'fastify';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  /** HOST:PORT it listens on. */
  address: string;
  close(): Promise<void>;
}

/**
 * The local HTTP port of a Flotilla process: `/healthz` (200 while `healthy()` says so, 503 otherwise, with its
 * details as JSON) and `/metrics` in Prometheus' text format.
 */
export async function serveHttp(
  listen: string,
  registry: Registry,
  healthy: () => { ok: boolean; [detail: string]: unknown },
): Promise<HttpEndpoint> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_request, reply) => {
    const health = healthy();
    return reply.code(health.ok ? 200 : 503).send(health);
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
  const at = listen.lastIndexOf(':');
  await app.listen({ host: listen.slice(0, at), port: Number(listen.slice(at + 1)) });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : 0;
  return { address: `${listen.slice(0, at)}:${port}`, close: () => app.close() };
}
