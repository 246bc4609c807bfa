import * as z from 'zod';
import { parseDuration } from '../values/index.js';
import { bool, int, parsed, strictObject, text } from './primitives.js';

const duration = parsed(parseDuration);

/** Where the agent's own probe goes in a Compose healthcheck: an extension key, which other tools ignore. */
export const PROBE_KEY = 'x-flotilla-probe';

export type ProbeModel = { http: { port: number; path: string } } | { tcp: { port: number } };

const httpProbe = strictObject({
  port: int(1, 65535),
  path: text.optional(),
}).transform((h, ctx) => {
  const path = h.path ?? '/';
  if (!path.startsWith('/')) {
    ctx.addIssue({
      code: 'custom',
      path: ['path'],
      message: `an HTTP probe's path starts with "/", e.g. "/${path}"`,
      params: { flotilla: 'invalid-value' },
    });
  }
  return { port: h.port, path };
});

const tcpProbe = strictObject({ port: int(1, 65535) });

/** `x-flotilla-probe: {http: {port, path}}` or `{tcp: {port}}`: exactly one kind. */
const probe = strictObject({
  http: httpProbe.optional(),
  tcp: tcpProbe.optional(),
}).transform((p, ctx): ProbeModel => {
  if (p.http && p.tcp) {
    ctx.addIssue({
      code: 'custom',
      message: 'a probe is either http or tcp, not both: keep one',
      params: { flotilla: 'invalid-value' },
    });
    return z.NEVER;
  }
  if (p.http) return { http: p.http };
  if (p.tcp) return { tcp: p.tcp };
  ctx.addIssue({
    code: 'custom',
    message: 'a probe needs http or tcp, e.g. {http: {port: 8080, path: /healthz}} or {tcp: {port: 6379}}',
    params: { flotilla: 'invalid-value' },
  });
  return z.NEVER;
});

/** A Compose `healthcheck`, with the Flotilla probe under its extension key. */
export const healthcheckSchema = strictObject({
  test: z
    .union([z.string().transform((cmd) => ['CMD-SHELL', cmd]), z.array(text)])
    .transform((test, ctx) => {
      const kind = test[0];
      if (kind !== 'NONE' && kind !== 'CMD' && kind !== 'CMD-SHELL') {
        ctx.addIssue({
          code: 'custom',
          message: `a healthcheck test list starts with CMD, CMD-SHELL or NONE, not ${JSON.stringify(kind ?? '')}`,
          params: { flotilla: 'invalid-value' },
        });
      } else if (kind !== 'NONE' && test.length < 2) {
        ctx.addIssue({
          code: 'custom',
          message: `${kind} needs a command after it, e.g. ["${kind}", "curl -f http://localhost/"]`,
          params: { flotilla: 'invalid-value' },
        });
      }
      return test;
    })
    .optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  retries: int(0).optional(),
  start_period: duration.optional(),
  start_interval: duration.optional(),
  disable: bool.optional(),
  [PROBE_KEY]: probe.optional(),
});
