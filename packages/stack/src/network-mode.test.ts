import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { StackError } from './diagnostics.js';
import { loadStackText } from './load.js';
import { toStackSpec } from './service-spec.js';

const load = (yaml: string) => loadStackText(yaml, { file: '/stack.yml' });

describe('network_mode', () => {
  it('host: the task shares the node network and joins no stack network', () => {
    const { stack } = load('services:\n  agent:\n    image: busybox\n    network_mode: host\n');
    const service = toStackSpec(stack, 'st').services[0];
    expect(service?.container?.hostNetwork).toBe(true);
    expect(service?.networks).toEqual([]);
    expect(formatCompose(stack, 'yaml')).toContain('network_mode: host');
  });

  it('other modes are warned about where they are written, and ignored', () => {
    const loaded = load('services:\n  web:\n    image: nginx\n    network_mode: bridge\n');
    const service = toStackSpec(loaded.stack, 'st').services[0];
    expect(service?.container?.hostNetwork).toBe(false);
    expect(service?.networks.map((n) => n.target)).toEqual(['st_default']);
    expect(loaded.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/only network_mode: host and "service:NAME" are honoured/),
    ]);
  });

  it('host with networks: is an error at the line and column of the network_mode value', () => {
    let message = '';
    try {
      load(
        'services:\n  web:\n    image: nginx\n    network_mode: host\n    networks: [front]\nnetworks:\n  front: {}\n',
      );
    } catch (err) {
      if (err instanceof StackError) message = err.format();
      else throw err;
    }
    expect(message).toMatch(/\/stack\.yml:4:19.*cannot be combined/s);
  });
});
