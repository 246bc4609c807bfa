import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { serveHttp } from './http-endpoint.js';

describe('serveHttp', () => {
  it('answers /healthz with the health details (503 when unhealthy), /metrics in Prometheus text, 404 otherwise', async () => {
    const registry = new Registry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    let ok = true;
    const endpoint = await serveHttp('127.0.0.1:0', registry, () => ({ ok, session: ok ? 'connected' : 'lost' }));
    try {
      const base = `http://${endpoint.address}`;
      const healthy = await fetch(`${base}/healthz`);
      expect(healthy.status).toBe(200);
      expect(await healthy.json()).toEqual({ ok: true, session: 'connected' });
      ok = false;
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toMatch(/^test_things_total 3$/m);
      expect((await fetch(`${base}/nothing`)).status).toBe(404);
      expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await endpoint.close();
    }
  });
});
