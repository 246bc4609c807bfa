import type { ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

const stack = (extra: string[]) => ['services:', '  db:', '    image: postgres:16', ...extra, ''].join('\n');

function spec(yaml: string): ServiceSpec | undefined {
  return toStackSpec(loadStackText(yaml).stack, 'st').services[0];
}

describe('x-flotilla: disconnect', () => {
  it('carries stop_after and replace into the service spec', () => {
    const s = spec(stack(['    x-flotilla:', '      disconnect: { stop_after: 1m30s, replace: false }']));
    expect(s?.disconnect).toEqual({ stopAfterMs: 90_000n, neverStop: false, replace: false });
  });

  it('takes "never" for a task that is never stopped because its node is cut off', () => {
    const s = spec(stack(['    x-flotilla: { disconnect: { stop_after: never } }']));
    expect(s?.disconnect).toEqual({ stopAfterMs: 0n, neverStop: true });
  });

  it('leaves the cluster default when the service says nothing', () => {
    expect(spec(stack([]))?.disconnect).toBeUndefined();
  });

  it('shows the setting in stack config, durations in canonical form', () => {
    const { stack: loaded } = loadStackText(stack(['    x-flotilla: { disconnect: { stop_after: 90s } }']));
    expect(formatCompose(loaded, 'json')).toContain(
      '"x-flotilla": {\n        "disconnect": {\n          "stop_after": "1m30s"',
    );
  });

  it('reports a bad duration and an unknown key where they are written', () => {
    const out = loadErrors(
      stack(['    x-flotilla:', '      disconnect:', '        stop_after: soon', '        replcae: false']),
    );
    expect(out).toContain('/stack.yml:6:21: services.db.x-flotilla.disconnect.stop_after:');
    expect(out).toContain(
      '/stack.yml:7:9: services.db.x-flotilla.disconnect.replcae: unknown key "replcae" (did you mean "replace"?)',
    );
  });

  it('is honoured, so no warning comes with it', () => {
    const { warnings } = loadStackText(stack(['    x-flotilla:', '      disconnect: { replace: false }']), {
      file: '/stack.yml',
    });
    expect(warnings).toEqual([]);
  });

  it('refuses unknown settings under x-flotilla, so a typo is not dropped in silence', () => {
    expect(loadErrors(stack(['    x-flotilla: { disconect: {} }']))).toContain(
      'services.db.x-flotilla.disconect: unknown key "disconect" (did you mean "disconnect"?)',
    );
  });
});
