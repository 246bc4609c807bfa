import type { ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

const stack = (extra: string[]) => ['services:', '  app:', '    image: busybox:stable', ...extra, ''].join('\n');

function spec(yaml: string): ServiceSpec | undefined {
  return toStackSpec(loadStackText(yaml).stack, 'st').services[0];
}

describe('x-flotilla: allow_process_executor', () => {
  it('lets the service onto nodes that run plain processes, through its placement', () => {
    expect(spec(stack(['    x-flotilla: { allow_process_executor: true }']))?.placement?.allowProcessExecutor).toBe(
      true,
    );
    expect(spec(stack(['    x-flotilla:', '      allow_process_executor: "false"']))?.placement).toMatchObject({
      allowProcessExecutor: false,
    });
  });

  it('is off when the service says nothing', () => {
    expect(spec(stack([]))?.placement?.allowProcessExecutor).toBe(false);
  });

  it('is shown by stack config as validated, beside disconnect', () => {
    const { stack: loaded } = loadStackText(
      stack(['    x-flotilla:', '      allow_process_executor: "True"', '      disconnect: { replace: false }']),
    );
    const out = JSON.parse(formatCompose(loaded, 'json')) as {
      services: Record<string, Record<string, unknown>>;
    };
    expect(out.services.app?.['x-flotilla']).toEqual({ disconnect: { replace: false }, allow_process_executor: true });
    expect(formatCompose(loaded, 'yaml')).toContain('allow_process_executor: true');
  });

  it('reports a value that is not a boolean, and a misspelt key, where they are written', () => {
    expect(loadErrors(stack(['    x-flotilla:', '      allow_process_executor: yes please']))).toContain(
      '/stack.yml:5:31: services.app.x-flotilla.allow_process_executor:',
    );
    expect(loadErrors(stack(['    x-flotilla:', '      allow_proces_executor: true']))).toContain(
      '/stack.yml:5:7: services.app.x-flotilla.allow_proces_executor: unknown key "allow_proces_executor" (did you mean "allow_process_executor"?)',
    );
  });

  it('is honoured, so no warning comes with it', () => {
    const { warnings } = loadStackText(stack(['    x-flotilla: { allow_process_executor: true }']), {
      file: '/stack.yml',
    });
    expect(warnings).toEqual([]);
  });

  it('warns, at the key, that a service with secrets or configs still runs only in containers', () => {
    const yaml = [
      ...stack(['    x-flotilla: { allow_process_executor: true }', '    secrets: [pw]']).trimEnd().split('\n'),
      'secrets:',
      '  pw: { external: true }',
      '',
    ].join('\n');
    const { warnings } = loadStackText(yaml, { file: '/stack.yml' });
    expect(warnings).toEqual([
      expect.objectContaining({
        severity: 'warning',
        path: 'services.app.x-flotilla.allow_process_executor',
        message: expect.stringContaining('only on nodes with the containerd executor'),
        location: expect.objectContaining({ line: 4 }),
      }),
    ]);
    // Without secrets or configs, nothing to say.
    expect(loadStackText(stack(['    x-flotilla: { allow_process_executor: true }'])).warnings).toEqual([]);
  });
});
