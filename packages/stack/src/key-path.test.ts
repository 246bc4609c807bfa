import { describe, expect, it } from 'vitest';
import { loadStackText } from './load.js';
import { toStackSpec } from './service-spec.js';

const text = `services:
  api.v2:
    image: nginx
    privileged: true
    pid: host
    ipc: private
    cap_add: [CHOWN, SYS_ADMIN]
    volumes:
      - /srv/data:/data
      - /etc:/host-etc:ro
`;

describe('privileged, pid and ipc', () => {
  it('reach the spec (pid/ipc only as host; other modes are warned about)', () => {
    const loaded = loadStackText(text, { file: '/tmp/s/stack.yml' });
    const container = toStackSpec(loaded.stack, 'web').services[0]?.container;
    expect(container).toMatchObject({ privileged: true, pidHost: true, ipcHost: false });
    expect(loaded.warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'services.api.v2.privileged: honoured only under the privileged security profile, and host devices are not passed (unlike Docker)',
      'services.api.v2.ipc: ignored: only ipc: host is honoured; tasks get their own IPC namespace',
    ]);
  });
});

describe('locate', () => {
  const loaded = loadStackText(text, { file: '/tmp/s/stack.yml' });
  const at = (keyPath: string) => {
    const loc = loaded.locate(keyPath);
    return loc && `${loc.line}:${loc.col}`;
  };

  it('finds keys and list items under a service name that holds dots', () => {
    expect(at('services.api.v2.privileged')).toBe('4:5');
    expect(at('services.api.v2.cap_add[1]')).toBe('7:22');
    expect(at('services.api.v2.volumes[1]')).toBe('10:9');
    expect(at('services.api.v2')).toBe('2:3');
    expect(loaded.locate('services.api.v2.pid')?.file).toBe('/tmp/s/stack.yml');
  });

  it('falls back to the deepest part that exists', () => {
    expect(at('services.api.v2.user')).toBe('3:5');
  });
});
