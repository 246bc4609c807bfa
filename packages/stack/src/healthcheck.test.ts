import type { ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

const SECOND = 1_000_000_000n;

function spec(yaml: string): ServiceSpec | undefined {
  return toStackSpec(loadStackText(yaml).stack, 'st').services[0];
}

describe('healthcheck', () => {
  it('keeps what the file says and leaves the rest at zero, for the agent to apply Docker defaults', () => {
    const s = spec('services:\n  web:\n    image: nginx\n    healthcheck:\n      test: curl -f http://localhost/\n');
    expect(s?.container?.healthcheck).toEqual({
      test: ['CMD-SHELL', 'curl -f http://localhost/'],
      intervalNs: 0n,
      timeoutNs: 0n,
      retries: 0,
      startPeriodNs: 0n,
      startIntervalNs: 0n,
      probe: undefined,
    });
  });

  it('takes an HTTP probe under x-flotilla-probe, with "/" as the default path', () => {
    const s = spec(
      [
        'services:',
        '  web:',
        '    image: nginx',
        '    healthcheck:',
        '      test: [CMD, curl, -f, http://localhost:8080/healthz]',
        '      x-flotilla-probe: { http: { port: 8080, path: /healthz } }',
        '      interval: 5s',
        '      start_period: 1m',
        '  api:',
        '    image: nginx',
        '    healthcheck:',
        '      x-flotilla-probe: { http: { port: "8081" } }',
        '',
      ].join('\n'),
    );
    expect(s?.container?.healthcheck).toMatchObject({
      test: ['CMD', 'curl', '-f', 'http://localhost:8080/healthz'],
      intervalNs: 5n * SECOND,
      startPeriodNs: 60n * SECOND,
      probe: { http: { port: 8080, path: '/healthz' } },
    });
    const api = toStackSpec(
      loadStackText(
        'services:\n  api:\n    image: x\n    healthcheck:\n      x-flotilla-probe: { http: { port: "8081" } }\n',
      ).stack,
      'st',
    ).services[0];
    expect(api?.container?.healthcheck?.probe).toEqual({ http: { port: 8081, path: '/' } });
  });

  it('takes a TCP probe, and prints it back in stack config', () => {
    const yaml =
      'services:\n  cache:\n    image: redis\n    healthcheck:\n      x-flotilla-probe: { tcp: { port: 6379 } }\n';
    expect(spec(yaml)?.container?.healthcheck?.probe).toEqual({ tcp: { port: 6379 } });
    expect(formatCompose(loadStackText(yaml).stack, 'yaml')).toMatch(/x-flotilla-probe:\n\s+tcp:\n\s+port: 6379/);
  });

  it('disable: true wins over a probe', () => {
    const s = spec(
      'services:\n  web:\n    image: x\n    healthcheck:\n      disable: true\n      x-flotilla-probe: { tcp: { port: 80 } }\n',
    );
    expect(s?.container?.healthcheck).toMatchObject({ test: ['NONE'], probe: undefined });
  });

  it('points at the bad part of a probe', () => {
    const at = (probe: string) =>
      loadErrors(`services:\n  web:\n    image: nginx\n    healthcheck:\n      x-flotilla-probe: ${probe}\n`);
    expect(at('{ http: { port: 80, path: healthz } }')).toBe(
      '/stack.yml:5:51: services.web.healthcheck.x-flotilla-probe.http.path: an HTTP probe\'s path starts with "/", e.g. "/healthz"',
    );
    expect(at('{ http: { port: 80, method: HEAD } }')).toBe(
      '/stack.yml:5:45: services.web.healthcheck.x-flotilla-probe.http.method: unknown key "method"',
    );
    expect(at('{ tcp: { port: 0 } }')).toMatch(/^\/stack.yml:5:40: .*tcp.port: 0 is out of range: must be at least 1$/);
    expect(at('{}')).toMatch(/^\/stack.yml:5:25: .*x-flotilla-probe: a probe needs http or tcp/);
  });
});
