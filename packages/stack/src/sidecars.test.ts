import { ServiceMode } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { StackError } from './diagnostics.js';
import { loadStackText } from './load.js';
import { toStackSpec } from './service-spec.js';

const load = (yaml: string) => loadStackText(yaml, { file: '/stack.yml' });

/** The formatted problems of a stack that must not load. */
function problems(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof StackError) return err.format();
    throw err;
  }
  throw new Error('the stack loaded');
}

const WEB =
  'services:\n  web:\n    image: nginx\n    deploy: {replicas: 3}\n    volumes: [logs:/var/log/nginx, ./site:/site]\n';

describe('sidecars', () => {
  it('network_mode: service: pairs each slot with the main service and joins no network of its own', () => {
    const { stack, warnings } = load(
      `${WEB}  proxy:\n    image: busybox\n    network_mode: "service:web"\nvolumes:\n  logs: {}\n`,
    );
    expect(warnings).toEqual([]);
    const proxy = toStackSpec(stack, 'st').services.find((s) => s.annotations?.name === 'st_proxy');
    expect(proxy?.sidecar).toEqual({ service: 'st_web', shareNetwork: true, volumesFrom: [] });
    expect(proxy?.networks).toEqual([]);
    expect(proxy?.replicas).toBe(3n);
    expect(proxy?.container?.hostNetwork).toBe(false);
    // Without volumes_from, none of the main's mounts.
    expect(proxy?.container?.mounts).toEqual([]);
  });

  it('volumes_from mounts the named volumes and binds of the main at the same targets, read-only with :ro', () => {
    const { stack } = load(
      `${WEB}  shipper:\n    image: busybox\n    volumes_from: ["web:ro"]\n    volumes: [/etc/ship:/var/log/nginx]\nvolumes:\n  logs: {}\n`,
    );
    const spec = toStackSpec(stack, 'st').services.find((s) => s.annotations?.name === 'st_shipper');
    expect(spec?.sidecar).toEqual({
      service: 'st_web',
      shareNetwork: false,
      volumesFrom: [{ service: 'st_web', readOnly: true }],
    });
    // Its own mount at /var/log/nginx wins; the bind comes from web, read-only.
    expect(spec?.container?.mounts.map((m) => [m.source, m.target, m.readOnly])).toEqual([
      ['/etc/ship', '/var/log/nginx', false],
      ['/site', '/site', true],
    ]);
    // Sharing only volumes, it still joins the stack's default network.
    expect(spec?.networks.map((n) => n.target)).toEqual(['st_default']);
  });

  it('follows a global main, and warns where the sidecar asks for other replicas or another mode', () => {
    const { stack, warnings } = load(
      'services:\n  agent:\n    image: busybox\n    deploy: {mode: global}\n  side:\n    image: busybox\n    network_mode: "service:agent"\n    deploy: {replicas: 4}\n',
    );
    const side = toStackSpec(stack, 'st').services.find((s) => s.annotations?.name === 'st_side');
    expect(side?.mode).toBe(ServiceMode.SERVICE_MODE_GLOBAL);
    expect(warnings.map((w) => [w.path, w.location?.line])).toEqual([['services.side.deploy.replicas', 8]]);
    const replicated = load(
      `${WEB}  side:\n    image: busybox\n    network_mode: "service:web"\n    deploy: {replicas: 1}\nvolumes:\n  logs: {}\n`,
    );
    expect(replicated.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/web's 3 replicas are used/)]);
  });

  it('stack config says how the sidecar is paired, and its output loads again unchanged', () => {
    const { stack } = load(
      `${WEB}  proxy:\n    image: busybox\n    network_mode: "service:web"\n    volumes_from: [web]\nvolumes:\n  logs: {}\n`,
    );
    const text = formatCompose(stack, 'yaml');
    expect(text).toMatch(/# sidecar: each task of proxy runs beside the task of the same slot of web, on its node/);
    expect(text).not.toMatch(/# sidecar: each task of web/);
    const again = load(text);
    expect(again.warnings).toEqual([]);
    expect(formatCompose(again.stack, 'yaml')).toBe(text);
  });

  it('reports every problem at once, each at its file:line:col', () => {
    const text = problems(
      [
        'services:',
        '  web:',
        '    image: nginx',
        '  a:',
        '    image: busybox',
        '    network_mode: "service:wbe"',
        '  b:',
        '    image: busybox',
        '    network_mode: "service:web"',
        '    ports: ["80:80"]',
        '    networks: [default]',
        '  c:',
        '    image: busybox',
        '    network_mode: "service:web"',
        '    volumes_from: [a]',
        '  d:',
        '    image: busybox',
        '    volumes_from: [d]',
        '',
      ].join('\n'),
    );
    expect(text).toMatch(
      /\/stack\.yml:6:19: services\.a\.network_mode: undefined service "wbe" \(did you mean "web"\?\)/,
    );
    expect(text).toMatch(/\/stack\.yml:10:5: services\.b\.ports: .*cannot be combined/);
    expect(text).toMatch(/\/stack\.yml:11:5: services\.b\.networks: .*cannot be combined/);
    expect(text).toMatch(
      /\/stack\.yml:15:20: services\.c\.volumes_from\[0\]: a sidecar runs beside one service, here web/,
    );
    expect(text).toMatch(/\/stack\.yml:18:20: services\.d\.volumes_from\[0\]: a service cannot run beside itself/);
  });

  it('refuses a sidecar of a job', () => {
    const text = problems(
      'services:\n  batch:\n    image: x\n    deploy: {mode: replicated-job}\n  side:\n    image: x\n    network_mode: "service:batch"\n',
    );
    expect(text).toMatch(/\/stack\.yml:7:5: services\.side\.network_mode: batch is a job \(replicated-job\)/);
  });

  it('refuses cycles and sidecars of sidecars, and warns about container: with the service form to use', () => {
    const cycle = problems(
      'services:\n  a:\n    image: x\n    network_mode: "service:b"\n  b:\n    image: x\n    volumes_from: [a]\n',
    );
    expect(cycle).toMatch(/sidecars form a cycle: a → b → a/);
    expect(cycle.match(/cycle/g)).toHaveLength(1);
    const chain = problems(
      'services:\n  a:\n    image: x\n  b:\n    image: x\n    network_mode: "service:a"\n  c:\n    image: x\n    network_mode: "service:b"\n',
    );
    expect(chain).toMatch(/services\.c\.network_mode: b is itself a sidecar of a: run c beside a instead/);
    const { warnings } = load(
      'services:\n  web:\n    image: x\n  side:\n    image: x\n    network_mode: "container:web"\n    volumes_from: ["container:web"]\n',
    );
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/pairs services, not containers.*network_mode: "service:web"/),
      expect.stringMatching(/pairs services, not containers.*"web"/),
    ]);
  });
});
